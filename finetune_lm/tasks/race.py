"""RACE (Lai et al. 2017): reading comprehension from English exams, a passage and
questions with four options each; GPT-1's Table 3 reports accuracy on the public
labelled test set (4934 questions), on all of it and on its middle- and high-school
parts.

Read from the unpacked RACE folder: {train,dev,test}/{middle,high}/*.txt, each file
one JSON object with keys answers, options, questions, article, id (id is
"<level><file name>", e.g. "high10024.txt"). One example per question: fields article,
question, option0..option3; label "ABCD".index(answer); groups "middle" or "high";
index "<id>-<question number>", numbered from 1 within the passage. Order: middle then
high, files by their numeric stem (then by name), questions in file order.
"""

import json
import os

import numpy as np

from finetune_lm.util.errors import UserError
from . import transforms
from .base import Split, Task, check_keys
from .metrics import ACCURACY

URL = "http://www.cs.cmu.edu/~glai1/data/race/"
SOURCE = "RACE (%s, RACE.tar.gz unpacked)" % URL
LEVELS = ("middle", "high")
SPLITS = (("train", "train"), ("valid", "dev"), ("test", "test"))
LETTERS = "ABCD"
OPTIONS = tuple("option%d" % k for k in range(len(LETTERS)))
FIELDS = ("article", "question") + OPTIONS
KEYS = ("answers", "options", "questions", "article", "id")


def _order(name):
    stem = name[:-len(".txt")]
    return (0, int(stem), name) if stem.isdigit() else (1, 0, name)


def _files(folder, data_dir, stem):
    if not os.path.isdir(folder):
        raise UserError("missing RACE folder %s: expected %s in --data_dir (%s), the RACE "
                        "folder holding {train,dev,test}/{middle,high}/*.txt, from %s"
                        % (folder, " and ".join("%s/%s/" % (stem, lv) for lv in LEVELS),
                           data_dir, SOURCE))
    names = sorted((e.name for e in os.scandir(folder)
                    if e.name.endswith(".txt") and e.is_file()), key=_order)
    if not names:
        raise UserError("RACE folder %s holds no .txt files: expected one JSON file per "
                        "passage, from %s" % (folder, SOURCE))
    return [os.path.join(folder, n) for n in names]


def _read_passage(path):
    try:
        with open(path, "rb") as f:
            obj = json.loads(f.read().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise UserError("%s is not UTF-8 (byte %d): expected one RACE passage as JSON, from %s"
                        % (path, err.start, SOURCE)) from None
    except ValueError as err:
        raise UserError("%s is not JSON (%s): expected one RACE passage, a JSON object with "
                        "keys %s" % (path, err, ", ".join(KEYS))) from None
    check_keys(obj, KEYS, path)
    answers, options, questions = obj["answers"], obj["options"], obj["questions"]
    for key in ("answers", "options", "questions"):
        if not isinstance(obj[key], list):
            raise UserError("%s: %s is a %s, expected a list" % (path, key, type(obj[key]).__name__))
    if not (len(answers) == len(options) == len(questions)):
        raise UserError("%s: %d answers, %d options lists and %d questions, expected one "
                        "answer and one list of options per question"
                        % (path, len(answers), len(options), len(questions)))
    if not isinstance(obj["article"], str):
        raise UserError("%s: article is a %s, expected a string"
                        % (path, type(obj["article"]).__name__))
    for i, (ans, opts, q) in enumerate(zip(answers, options, questions), start=1):
        where = "%s, question %d" % (path, i)
        if not isinstance(opts, list) or len(opts) != len(LETTERS):
            raise UserError("%s: %s options, expected %d"
                            % (where, len(opts) if isinstance(opts, list) else repr(opts),
                               len(LETTERS)))
        if not isinstance(ans, str) or len(ans) != 1 or ans not in LETTERS:
            raise UserError("%s: answer %r, expected one of %s"
                            % (where, ans, ", ".join(LETTERS)))
        if not isinstance(q, str) or not all(isinstance(o, str) for o in opts):
            raise UserError("%s: question and options must be strings" % where)
    return obj


def read_split(data_dir, stem):
    """One split folder (train, dev or test) as a Split: middle then high."""
    texts = {f: [] for f in FIELDS}
    labels, index, groups = [], [], []
    for level in LEVELS:
        for path in _files(os.path.join(data_dir, stem, level), data_dir, stem):
            obj = _read_passage(path)
            article = obj["article"]
            for i, (ans, opts, q) in enumerate(
                    zip(obj["answers"], obj["options"], obj["questions"]), start=1):
                texts["article"].append(article)
                texts["question"].append(q)
                for name, opt in zip(OPTIONS, opts):
                    texts[name].append(opt)
                labels.append(LETTERS.index(ans))
                index.append("%s-%d" % (obj["id"], i))
                groups.append(level)
    return Split(texts=texts, labels=np.asarray(labels, np.int64), index=index, groups=groups,
                 source=os.path.join(data_dir, stem))


def load(data_dir):
    return {name: read_split(data_dir, stem) for name, stem in SPLITS}


TASKS = [Task(
    name="race",
    folder="RACE",
    source=SOURCE,
    load=load,
    fields=FIELDS,
    transform=transforms.multiple_choice("article", "question", list(OPTIONS)),
    n_seq=len(OPTIONS),
    head="choice",
    n_out=1,
    label_names=tuple(LETTERS),
    metrics=(ACCURACY,),
    analysis=("test",),
    title="RACE",
    groups=LEVELS,
    paper={"test acc": 59.0, "test middle acc": 62.9, "test high acc": 57.4},
)]
