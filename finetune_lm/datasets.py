"""Task loaders behind one name -> loader table, and the ROCStories input layout.

A task is a loader returning ((trX1, trX2, trX3, trY), (vaX1, vaX2, vaX3, vaY),
(teX1, teX2, teX3, teY)) of raw text, plus the name of its submission file.
"""

import csv
import os

import numpy as np
from sklearn.model_selection import train_test_split

from .errors import UserError

ROC_VAL = "cloze_test_val__spring2016 - cloze_test_ALL_val.csv"
ROC_TEST = "cloze_test_test__spring2016 - cloze_test_ALL_test.csv"
ROC_SOURCE = ("the ROCStories Cloze Test (spring 2016) files, which its authors hand out "
              "on request (https://cs.rochester.edu/nlp/rocstories/)")
SPLIT_SEED = 3535999445
N_VALID = 374


def _rocstories(path):
    """(stories, endings1, endings2, labels 0/1) of one Cloze Test CSV; header skipped."""
    if not os.path.isfile(path):
        raise UserError("missing ROCStories file %s: expected %r in --data_dir, from %s"
                        % (path, os.path.basename(path), ROC_SOURCE))
    st, ct1, ct2, y = [], [], [], []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        first = 1  # physical line where the record starts: a quoted field can span several
        for i, line in enumerate(reader):
            where = "%s, line %d" % (path, first)
            first = reader.line_num + 1
            if i == 0:
                continue
            if len(line) != 8:
                raise UserError("%s: %d columns, expected 8 (id, 4 sentences, 2 endings, label)"
                                % (where, len(line)))
            if line[-1].strip() not in ("1", "2"):
                raise UserError("%s: label %r, expected 1 or 2" % (where, line[-1]))
            st.append(" ".join(line[1:5]))
            ct1.append(line[5])
            ct2.append(line[6])
            y.append(int(line[-1]) - 1)
    return st, ct1, ct2, y


def rocstories(data_dir, n_valid=N_VALID):
    storys, comps1, comps2, ys = _rocstories(os.path.join(data_dir, ROC_VAL))
    teX1, teX2, teX3, teY = _rocstories(os.path.join(data_dir, ROC_TEST))
    (trX1, vaX1, trX2, vaX2, trX3, vaX3, trY, vaY) = train_test_split(
        storys, comps1, comps2, ys, test_size=n_valid, random_state=SPLIT_SEED)
    return ((trX1, trX2, trX3, np.asarray(trY, np.int32)),
            (vaX1, vaX2, vaX3, np.asarray(vaY, np.int32)),
            (teX1, teX2, teX3, np.asarray(teY, np.int32)))


# name -> (loader, submission file name)
TASKS = {
    "rocstories": (rocstories, "ROCStories.tsv"),
}


def get_task(name):
    if name not in TASKS:
        raise UserError("--dataset %r is not a known task; expected one of: %s"
                        % (name, ", ".join(sorted(TASKS))))
    return TASKS[name]


def n_ctx_for(splits, n_ctx_flag):
    """The model's context: the longest [start] x1 [delim] x2 [clf], capped at the flag.

    splits: iterables of (x1, x2, x3) token lists.
    """
    max_len = n_ctx_flag // 2 - 2
    longest = max(len(x1[:max_len]) + max(len(x2[:max_len]), len(x3[:max_len]))
                  for split in splits for x1, x2, x3 in split)
    return min(longest + 3, n_ctx_flag)


def transform_roc(X1, X2, X3, n_ctx, max_len, start, delimiter, clf_token, pos_offset):
    """Input [N, 2, n_ctx, 2] (token ids, position ids) and mask [N, 2, n_ctx]."""
    n = len(X1)
    xmb = np.zeros((n, 2, n_ctx, 2), dtype=np.int32)
    mmb = np.zeros((n, 2, n_ctx), dtype=np.float32)
    for i, (x1, x2, x3) in enumerate(zip(X1, X2, X3)):
        for j, ending in enumerate((x2, x3)):
            seq = [start] + x1[:max_len] + [delimiter] + ending[:max_len] + [clf_token]
            xmb[i, j, :len(seq), 0] = seq
            mmb[i, j, :len(seq)] = 1
    xmb[:, :, :, 1] = np.arange(pos_offset, pos_offset + n_ctx)
    return xmb, mmb
