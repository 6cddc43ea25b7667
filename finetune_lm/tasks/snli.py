"""SNLI (Bowman et al. 2015): premise/hypothesis pairs, three classes; GPT-1's Table 2
reports accuracy on the public labelled test set (9824 pairs with a gold label).

Two layouts are read, from the same --data_dir:
- the official release (snli_1.0.zip): snli_1.0_{train,dev,test}.jsonl, one JSON object
  a line with keys sentence1, sentence2, gold_label, pairID (and parses and annotator
  labels, not read). Pairs whose gold_label is "-" (no annotator majority: 785 train,
  158 dev, 176 test) are dropped, as every reported SNLI number does.
- GLUE's SNLI.zip (the 2018 download script's layout): train.tsv, dev.tsv, test.tsv with
  the 11-column header `index captionID pairID sentence1_binary_parse ... sentence1
  sentence2 label1 gold_label`. Re-annotated pairs carry 15 fields (label1..label5,
  gold_label), so the sentences are taken by header position and the label from the
  LAST field (as BERT's MnliProcessor reads MNLI).
The jsonl files win when present.

index: the pairID (jsonl) or the `index` column (GLUE layout), as strings.
"""

import json
import os

import numpy as np

from finetune_lm.util.errors import UserError
from . import transforms
from .base import Split, Task, check_keys, label_index, read_header, read_text, read_tsv
from .metrics import ACCURACY

SOURCE = ("the Stanford NLI corpus 1.0 (https://nlp.stanford.edu/projects/snli/snli_1.0.zip, "
          "unpacked: snli_1.0_{train,dev,test}.jsonl; or GLUE's SNLI train/dev/test.tsv)")
LABELS = ("entailment", "neutral", "contradiction")
SPLITS = (("train", "train"), ("valid", "dev"), ("test", "test"))
JSONL = "snli_1.0_%s.jsonl"
KEYS = ("sentence1", "sentence2", "gold_label", "pairID")
NO_GOLD = "-"


def _split(premises, hypotheses, labels, index, path):
    return Split(texts={"premise": premises, "hypothesis": hypotheses},
                 labels=np.asarray(labels, np.int64), index=index, source=path)


def read_jsonl(path, what="SNLI jsonl"):
    """One official snli_1.0_*.jsonl file as a Split, gold_label "-" rows dropped."""
    premises, hypotheses, labels, index = [], [], [], []
    text = read_text(path, what, SOURCE)
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = "%s, line %d" % (path, lineno)
        try:
            row = json.loads(line)
        except ValueError as err:
            raise UserError("%s: not JSON (%s); expected one JSON object a line with keys %s"
                            % (where, err, ", ".join(KEYS))) from None
        check_keys(row, KEYS, where)
        for k in ("sentence1", "sentence2", "gold_label"):
            if not isinstance(row[k], str):
                raise UserError("%s: %s is %r, expected a string" % (where, k, row[k]))
        if row["gold_label"] == NO_GOLD:
            continue
        labels.append(label_index(row["gold_label"], LABELS, where))
        premises.append(row["sentence1"])
        hypotheses.append(row["sentence2"])
        index.append(str(row["pairID"]))
    return _split(premises, hypotheses, labels, index, path)


def read_glue(path, what="GLUE SNLI"):
    """One GLUE-layout SNLI tsv as a Split: sentences by header position, the label
    from the last field (rows of re-annotated pairs have 15 fields, the header 11)."""
    header = read_header(path, what, SOURCE)
    need = ("sentence1", "sentence2")
    missing = [c for c in need if c not in header]
    if missing or header[-1] != "gold_label":
        raise UserError("%s, line 1: header %s, expected GLUE SNLI's columns with %s "
                        "and gold_label last" % (path, "\t".join(header), ", ".join(need)))
    s1, s2 = header.index("sentence1"), header.index("sentence2")
    col = header.index("index") if "index" in header else None
    premises, hypotheses, labels, index = [], [], [], []
    for lineno, fields in read_tsv(path, what, SOURCE, n_header=1, min_fields=len(header)):
        where = "%s, line %d" % (path, lineno)
        if fields[-1] == NO_GOLD:
            continue
        labels.append(label_index(fields[-1], LABELS, where))
        premises.append(fields[s1])
        hypotheses.append(fields[s2])
        index.append(fields[col] if col is not None else len(index))
    return _split(premises, hypotheses, labels, index, path)


def load(data_dir):
    jsonl = {name: os.path.join(data_dir, JSONL % stem) for name, stem in SPLITS}
    glue = {name: os.path.join(data_dir, "%s.tsv" % stem) for name, stem in SPLITS}
    if not any(os.path.exists(p) for p in jsonl.values()) and any(
            os.path.exists(p) for p in glue.values()):
        return {name: read_glue(glue[name], "GLUE SNLI %s" % stem) for name, stem in SPLITS}
    return {name: read_jsonl(jsonl[name], "SNLI %s" % stem) for name, stem in SPLITS}


def entailment_task(**declared):
    """A premise/hypothesis task with a linear head over its labels, scored by accuracy on
    its public test labels (SNLI, SciTail)."""
    return Task(fields=("premise", "hypothesis"),
                transform=transforms.entailment("premise", "hypothesis"), n_seq=1,
                head="linear", metrics=(ACCURACY,), analysis=("test",), **declared)


TASKS = [entailment_task(name="snli", folder="snli_1.0", source=SOURCE, load=load, n_out=3,
                         label_names=LABELS, title="SNLI", paper={"test acc": 89.9})]
