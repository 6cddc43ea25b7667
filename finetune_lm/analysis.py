"""Accuracy of a submission against the test file's labels, and the best valid accuracy."""

import csv
import json
import os

import numpy as np

from .datasets import ROC_TEST, _rocstories
from .errors import UserError


def read_submission(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    if not rows or rows[0] != ["index", "prediction"]:
        raise UserError("%s: expected a header 'index<TAB>prediction'" % path)
    return [int(r[1]) for r in rows[1:]]


def best_valid(log_path):
    """va_acc of the first evaluation with the highest va_acc (the log's first line is args)."""
    with open(log_path) as f:
        logs = [json.loads(line) for line in f][1:]
    return logs[int(np.argmax([log["va_acc"] for log in logs]))]["va_acc"]


def rocstories(data_dir, pred_path, log_path):
    """Print and return (best valid accuracy, test accuracy), as the original's analysis.

    The original read log_dir/rocstories.jsonl whatever --desc was; this reads the
    run's own log."""
    preds = read_submission(pred_path)
    labels = _rocstories(os.path.join(data_dir, ROC_TEST))[3]
    if len(preds) != len(labels):
        raise UserError("%s has %d predictions; the test file has %d stories"
                        % (pred_path, len(preds), len(labels)))
    test_accuracy = float(np.mean(np.asarray(preds) == np.asarray(labels)) * 100.)
    valid_accuracy = best_valid(log_path)
    print("ROCStories Valid Accuracy: %.2f" % valid_accuracy)
    print("ROCStories Test Accuracy:  %.2f" % test_accuracy)
    return valid_accuracy, test_accuracy


ANALYSES = {"rocstories": rocstories}
