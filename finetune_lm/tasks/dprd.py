"""DPRD, the Definite Pronoun Resolution Dataset (Rahman and Ng 2012): the Winograd-schema
data of the paper's zero-shot analysis (section 5, Figure 2 right). Not a fine-tuning
task of the paper (no `TASKS` here): tasks/zeroshot.py declares its heuristic.

Files (as Hugging Face's mirror holds them): train.c.txt (1322 examples) and test.c.txt
(564). Each example is four lines and a blank line: the sentence; the pronoun (sometimes
a noun phrase); the two candidates separated by a comma; the correct candidate (equal to
one of the two). Fields: sentence, pronoun, candidate0, candidate1; label: the index of
the correct candidate.
"""

import os

import numpy as np

from finetune_lm.util.errors import UserError
from .base import Split, read_text

FOLDER = "DPRD"
URL = "https://s3.amazonaws.com/datasets.huggingface.co/definite_pronoun_resolution/"
SOURCE = "DPRD (Rahman and Ng 2012; Hugging Face's mirror %s{train,test}.c.txt)" % URL
FILES = (("train", "train.c.txt"), ("test", "test.c.txt"))
FIELDS = ("sentence", "pronoun", "candidate0", "candidate1")


def read_file(path):
    """One DPRD file as a Split; a malformed example is an error naming file and line."""
    text = read_text(path, "DPRD " + os.path.basename(path), SOURCE)
    texts = {f: [] for f in FIELDS}
    labels, block, start = [], [], 1
    for lineno, line in enumerate(text.split("\n") + [""], start=1):
        line = line.rstrip("\r")
        if line.strip():
            if not block:
                start = lineno
            block.append(line.strip())
            continue
        if not block:
            continue
        where = "%s, line %d" % (path, start)
        if len(block) != 4:
            raise UserError("%s: an example of %d lines, expected 4 (sentence, pronoun, "
                            "candidates, answer) and a blank line" % (where, len(block)))
        sentence, pronoun, candidates, answer = block
        pair = candidates.split(",")
        if len(pair) != 2:
            raise UserError("%s: candidates %r, expected two separated by a comma"
                            % (where, candidates))
        pair = [c.strip() for c in pair]
        if answer not in pair:
            raise UserError("%s: answer %r is neither candidate (%s)"
                            % (where, answer, ", ".join(pair)))
        for name, value in zip(FIELDS, (sentence, pronoun) + tuple(pair)):
            texts[name].append(value)
        labels.append(pair.index(answer))
        block = []
    return Split(texts=texts, labels=np.asarray(labels, np.int64),
                 index=list(range(len(labels))), source=path)


def load(data_dir):
    return {name: read_file(os.path.join(data_dir, fn)) for name, fn in FILES}
