"""After training: submission files, the metrics of the labelled splits, and what
`--analysis` prints (the best valid figure and, where labels are public, test).

The original's analysis printed "ROCStories Valid Accuracy" (the best va_acc of
the log) and "ROCStories Test Accuracy" (the submission against the test file's
labels); every task prints the same two kinds of lines for its main metric, and
its other metrics and subsets (RACE middle / high) after them.
"""

import csv
import json

import numpy as np

from .errors import UserError

SPLIT_TITLES = {"valid": "Valid", "test": "Test", "valid_mm": "Valid mismatched",
                "test_mm": "Test mismatched", "ax": "Diagnostic"}


def read_submission(path):
    """The prediction column of a submission file (ints where they are ints)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or rows[0] != ["index", "prediction"]:
        raise UserError("%s: expected a header 'index<TAB>prediction'" % path)
    out = []
    for r in rows[1:]:
        try:
            out.append(int(r[1]))
        except ValueError:
            out.append(r[1])
    return out


def write_submission(path, index, predictions):
    from .checkpoint import atomic_open
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        f.write("index\tprediction\n")
        for i, p in zip(index, predictions):
            f.write("%s\t%s\n" % (i, p))


def read_log(log_path):
    with open(log_path) as f:
        return [json.loads(line) for line in f][1:]  # the first line is the arguments


def best_valid(log_path, metric="acc"):
    """va_<metric> of the first evaluation with the highest one."""
    logs = read_log(log_path)
    key = "va_" + metric
    return logs[int(np.argmax([log[key] for log in logs]))][key]


def report(task, results, out=print):
    """Print the figures of `results` ({split: {metric: value}}), main metric first,
    labels padded so the values line up (the original's two lines for ROCStories)."""
    lines = []
    for split, figures in results.items():
        title = SPLIT_TITLES.get(split, split)
        for key in [m.name for m in task.metrics] + [
                "%s %s" % (g, m.name) for g in task.groups for m in task.metrics]:
            if key not in figures:
                continue
            group, name = key.rsplit(" ", 1) if " " in key else (None, key)
            metric = next(m for m in task.metrics if m.name == name)
            label = "%s %s%s %s:" % (task.display, title, " " + group if group else "",
                                     metric.display)
            lines.append((label, figures[key]))
    width = max((len(label) for label, _ in lines), default=0)
    for label, value in lines:
        out("%-*s %.2f" % (width, label, value))


def result_figures(task, valid_best, results):
    """The run's figures under stable names: valid_<metric key> (the best of the
    log) and <split>_<metric key>[_<group>] of every labelled split."""
    figures = {"valid_" + task.main_metric.key: valid_best}
    for split, values in results.items():
        if split == "valid":
            continue
        for key, value in values.items():
            group, name = key.rsplit(" ", 1) if " " in key else (None, key)
            metric = next(m for m in task.metrics if m.name == name)
            figures["%s_%s%s" % (split, metric.key, "_" + group if group else "")] = value
    return figures
