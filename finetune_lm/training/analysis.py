"""After training: the predictions of the best parameters, the submission files, the
metrics of the labelled splits, and what `--analysis` prints (the best valid figure
and, where labels are public, test).

The original's analysis printed "ROCStories Valid Accuracy" (the best va_acc of
the log) and "ROCStories Test Accuracy" (the submission against the test file's
labels); every task prints the same two kinds of lines for its main metric, and
its other metrics and subsets (RACE middle / high) after them.
"""

import csv
import json
import os

import numpy as np

from finetune_lm.training.loop import predict_split, scores
from finetune_lm.util import records
from finetune_lm.training.submission import submission_text
from finetune_lm.util.errors import UserError
from finetune_lm.util.files import atomic_open, atomic_write, atomic_write_json

# results.json, the figures of a finished run with --submit (finish writes it).
RESULTS_SCHEMA = {
    "splits": records.Field((dict,), "an object {split: {metric: score}}"),
    "figures": records.Field((dict,), "an object {figure: value}"),
}


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
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        f.write(submission_text(index, predictions))


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
        title = task.split_title(split)
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


def claim_submission(path, desc):
    """Record that run `desc` wrote the submission file `path` (in `.<name>.run` beside
    it); returns the run that wrote the file before, when another one did."""
    record = os.path.join(os.path.dirname(path) or ".", ".%s.run" % os.path.basename(path))
    before = None
    if os.path.isfile(path) and os.path.isfile(record):
        with open(record, encoding="utf-8") as f:
            before = f.read().strip() or None
    atomic_write(record, desc + "\n")
    return before if before != desc else None


def finish(task, hp, data, predict, paths, chief, analysis=False, desc=None):
    """The run's end with --submit: predict each split a submission or the analysis
    needs (once each) with the best parameters already loaded, write the submission
    files and results.json, say which files were written (and which replaced another
    run's), print the analysis; returns the figures."""
    predictions, written = {}, []
    for split in [s.split for s in task.submissions] + list(task.analysis):
        if split in data and split not in predictions:
            logits, _ = predict_split(predict, data[split], hp, desc="predict %s" % split)
            predictions[split] = task.predictions(logits)
    for sub in task.submissions:
        # A split absent from data is an optional one the loader said it left out.
        if sub.split in predictions and chief:
            path = paths["submissions"][sub.split]
            write_submission(path, data[sub.split].index,
                             task.prediction_strings(predictions[sub.split]))
            before = claim_submission(path, desc) if desc else None
            written.append("submission: wrote %s%s" % (
                path, " (replacing the file run %r wrote)" % before if before else ""))
    splits = {}
    for split in task.analysis:
        enc = data.get(split)
        if enc is not None and enc.labels is not None:
            splits[split] = scores(task, predictions[split], enc.labels, enc.groups)
    if not chief:
        return {}
    valid_best = best_valid(paths["log"], task.main_metric.name)
    splits = dict({"valid": {task.main_metric.name: valid_best}}, **splits)
    figures = result_figures(task, valid_best, splits)
    atomic_write_json(paths["results"], {"splits": splits, "figures": figures})
    if analysis:
        report(task, splits)
    for line in written:  # the run's last lines
        print(line)
    return figures


def outputs_missing(paths):
    """Whether a submission file or results.json of the run is not there."""
    return not all(os.path.isfile(p) for p in
                   list(paths["submissions"].values()) + [paths["results"]])


def finished(task, desc, paths, pointer, submit, analysis):
    """A run whose checkpoint says it finished: no training, the analysis again."""
    print("resume: run %r already finished (%d updates; %s); not retraining"
          % (desc, pointer["n_updates"], paths["checkpoint"]))
    result = {"best_valid": pointer["best"], "n_updates": pointer["n_updates"],
              "already_finished": True}
    if submit:
        saved = records.read(paths["results"], RESULTS_SCHEMA, "the run's figures")
        if analysis:
            report(task, saved["splits"])
        result.update(saved["figures"])
    return result
