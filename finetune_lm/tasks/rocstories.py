"""ROCStories Cloze Test (Story Cloze, spring 2016): multiple choice between two
endings, K = 2, as openai/finetune-transformer-lm released it (docs/fidelity.md, "ROCStories").

Training and validation come from the val file (split by scikit-learn with the
original's seed), the test file is the test set; labels are public, so --analysis
reports test accuracy."""

import csv
import os

import numpy as np
from sklearn.model_selection import train_test_split

from finetune_lm.data.task_download import ROCSTORIES_FILES
from finetune_lm.util.errors import UserError
from . import metrics
from .base import Split, Submission, Task

ROC_VAL, ROC_TEST = ROCSTORIES_FILES
ROC_SOURCE = ("the ROCStories Cloze Test (spring 2016) files, which its authors hand out "
              "on request (https://cs.rochester.edu/nlp/rocstories/)")
SPLIT_SEED = 3535999445
N_VALID = 374


def _rocstories(path):
    """(stories, endings1, endings2, labels 0/1) of one Cloze Test CSV; header skipped."""
    if os.path.isdir(path):
        raise UserError("%s is a folder; expected the ROCStories file %r, from %s"
                        % (path, os.path.basename(path), ROC_SOURCE))
    if not os.path.isfile(path):
        raise UserError("missing ROCStories file %s: expected %r in --data_dir, from %s"
                        % (path, os.path.basename(path), ROC_SOURCE))
    st, ct1, ct2, y = [], [], [], []
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            first = 1  # physical line where the record starts: a quoted field can span several
            for i, line in enumerate(reader):
                where = "%s, line %d" % (path, first)
                first = reader.line_num + 1
                if i == 0:
                    continue
                if len(line) != 8:
                    raise UserError("%s: %d columns, expected 8 (id, 4 sentences, 2 endings, "
                                    "label)" % (where, len(line)))
                if line[-1].strip() not in ("1", "2"):
                    raise UserError("%s: label %r, expected 1 or 2" % (where, line[-1]))
                st.append(" ".join(line[1:5]))
                ct1.append(line[5])
                ct2.append(line[6])
                y.append(int(line[-1]) - 1)
    except UnicodeDecodeError as err:
        raise UserError("%s is not UTF-8 (byte %d): expected the ROCStories CSV, from %s"
                        % (path, err.start, ROC_SOURCE)) from None
    return st, ct1, ct2, y


def rocstories(data_dir, n_valid=N_VALID):
    """The original's three splits as (stories, endings1, endings2, labels) each."""
    storys, comps1, comps2, ys = _rocstories(os.path.join(data_dir, ROC_VAL))
    teX1, teX2, teX3, teY = _rocstories(os.path.join(data_dir, ROC_TEST))
    path = os.path.join(data_dir, ROC_VAL)
    if len(ys) <= n_valid:
        raise UserError("%s has %d stories; expected more than %d (the validation split is "
                        "%d of them, the rest is for training)" % (path, len(ys), n_valid, n_valid))
    if not teY:
        raise UserError("%s has no stories: expected the test stories, from %s"
                        % (os.path.join(data_dir, ROC_TEST), ROC_SOURCE))
    (trX1, vaX1, trX2, vaX2, trX3, vaX3, trY, vaY) = train_test_split(
        storys, comps1, comps2, ys, test_size=n_valid, random_state=SPLIT_SEED)
    return ((trX1, trX2, trX3, np.asarray(trY, np.int32)),
            (vaX1, vaX2, vaX3, np.asarray(vaY, np.int32)),
            (teX1, teX2, teX3, np.asarray(teY, np.int32)))


def load(data_dir):
    out = {}
    for name, (x1, x2, x3, y) in zip(("train", "valid", "test"), rocstories(data_dir)):
        out[name] = Split(texts={"story": x1, "ending1": x2, "ending2": x3},
                          labels=np.asarray(y, np.int64), index=list(range(len(y))),
                          source=os.path.join(data_dir, ROC_TEST if name == "test" else ROC_VAL))
    return out


def transform(ids, specials, n_ctx):
    """The original's `transform_roc`: each of story and ending cut to n_ctx // 2 - 2
    tokens (not the generic multiple-choice rule, which would cut the story only)."""
    start, delim, clf = specials
    max_len = n_ctx // 2 - 2
    story = ids["story"][:max_len]
    return [[start] + story + [delim] + ids[e][:max_len] + [clf] for e in ("ending1", "ending2")]


TASKS = [Task(
    name="rocstories", folder="rocstories", source=ROC_SOURCE, load=load,
    fields=("story", "ending1", "ending2"), transform=transform, n_seq=2, head="choice",
    metrics=(metrics.ACCURACY,), submissions=(Submission("test", "ROCStories.tsv"),),
    analysis=("test",), title="ROCStories",
    paper={"test acc": 86.5},
    references={"original_median": ("openai/finetune-transformer-lm README, median of 10 runs",
                                    85.8)})]
