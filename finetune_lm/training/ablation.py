"""Table 5's ablations and Figure 2 left's sweep as runs of reproduce (finetune_lm/
reproduce.py: every seed, its result.json, resumable), and their tables beside the
paper's numbers (tasks/ablation.py). Names no task: the columns come from the
declarations."""

import copy
import csv
import io
import os

import numpy as np

from finetune_lm.tasks.ablation import (FIGURE2_LEFT, LSTM_ROW, SWEEP, TABLE5_COLUMNS,
                                        TABLE5_ROWS, TABLE5_SECOND)

TABLE5_TASKS = tuple(d for d, _, _ in TABLE5_COLUMNS)
from finetune_lm.util.errors import UserError
from finetune_lm.util.files import atomic_write


def variant_args(base, dataset, flags, tag):
    """reproduce's arguments for one task and one variant: the flags set, the desc
    `<desc>_<dataset>_<tag>`, the data folder of the task's default (datasets/<folder>)
    unless --data_dir named a folder holding one per task."""
    from finetune_lm.tasks import get_task
    args = copy.copy(base)
    args.dataset = dataset
    for k, v in flags.items():
        setattr(args, k, v)
    args.desc = "%s_%s_%s" % (base.desc, dataset, tag)
    root = getattr(base, "data_root", None) or "datasets"
    args.data_dir = os.path.join(root, get_task(dataset).folder)
    return args


def median_of(results, key):
    vals = [r[key] for r in results if r.get(key) is not None]
    return float(np.median(vals)) if vals else None


def column_value(results, dataset, key):
    """The column's figure over a variant's seeds: the median of the best valid metric
    (MNLI: the mean of its matched and mismatched medians, as the paper's column)."""
    v = median_of(results, "valid_" + key)
    second = TABLE5_SECOND.get(dataset)
    if second is not None and v is not None:
        w = median_of(results, "%s_%s" % (second, key))
        v = v if w is None else (v + w) / 2
    return v


def average(values):
    """The paper's Avg: the unweighted mean of the 8 columns (None unless all 8 ran)."""
    return float(np.mean(values)) if len(values) == 8 and None not in values else None


def table5(measured):
    """(markdown, csv text). measured: {row name: {dataset: value}} for the rows run."""
    titles = [t for _, _, t in TABLE5_COLUMNS]
    head = "| row | source | Avg | " + " | ".join(titles) + " |"
    lines = ["# Table 5: ablations (median over seeds of the best dev figure)", "", head,
             "|---|---|---:|" + "---:|" * len(titles)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["row", "source", "avg"] + [d for d, _, _ in TABLE5_COLUMNS])
    fmt = lambda v: "" if v is None else "%.1f" % v
    for name, _, avg, paper in TABLE5_ROWS:
        lines.append("| %s | paper (test) | %.1f | %s |" % (name, avg, " | ".join(
            "%.1f" % v for v in paper)))
        w.writerow([name, "paper"] + [avg] + list(paper))
        if name in measured:
            vals = [measured[name].get(d) for d, _, _ in TABLE5_COLUMNS]
            lines.append("| %s | this run (dev) | %s | %s |" % (
                name, fmt(average(vals)), " | ".join(fmt(v) for v in vals)))
            w.writerow([name, "measured"] + [average(vals)] + vals)
    lname, lavg, lpaper, why = LSTM_ROW
    lines.append("| %s | paper (test) | %.1f | %s |" % (lname, lavg, " | ".join(
        "%.1f" % v for v in lpaper)))
    w.writerow([lname, "paper"] + [lavg] + list(lpaper))
    lines += ["", "%s: %s." % (lname, why),
              "Avg: the unweighted mean of the 8 columns, as the paper computes it (empty "
              "unless all 8 tasks ran); MNLI: the mean of MNLI-m and MNLI-mm. The paper's "
              "numbers are on the test sets (GLUE server); the measured ones on dev.", ""]
    return "\n".join(lines), buf.getvalue()


def best_train(log_lines, key):
    """tr_<key> at the first evaluation with the best va_<key> (the train subset the
    original evaluates, as the log records it)."""
    evals = [l for l in log_lines if "va_" + key in l]
    if not evals:
        return None
    best = max(evals, key=lambda l: l["va_" + key])
    return best.get("tr_" + key)


def sweep_table(dataset, measured):
    """(markdown, csv). measured: {n_transfer: (train, dev)} for the points run."""
    paper = FIGURE2_LEFT[dataset]
    lines = ["# Figure 2 left: %s, layers transferred" % paper["title"], "",
             "| point | --n_transfer | train (run) | dev (run) | dev (paper, read off the "
             "figure) |", "|---:|---:|---:|---:|---:|"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["point", "n_transfer", "train", "dev", "paper_dev_read_off_figure"])
    fmt = lambda v: "" if v is None else "%.2f" % v
    for i, k in enumerate(SWEEP):
        tr, dev = measured.get(k, (None, None))
        lines.append("| %d | %d | %s | %s | %.1f |" % (i, k, fmt(tr), fmt(dev), paper["valid"][i]))
        w.writerow([i, k, "" if tr is None else tr, "" if dev is None else dev, paper["valid"][i]])
    lines += ["", "The paper's train accuracy is read only at the ends: %.1f (point 0) and "
              "%.1f (point 13)." % paper["train_ends"], ""]
    return "\n".join(lines), buf.getvalue()


def plot_sweep(dataset, measured, path):
    """Figure 2 left's panel as a PNG beside the paper's values; False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    paper = FIGURE2_LEFT[dataset]
    x = np.arange(len(SWEEP))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, paper["valid"], "k--", label="paper dev (read off the figure)")
    pts = [(i, measured[k]) for i, k in enumerate(SWEEP) if k in measured]
    if pts:
        ax.plot([i for i, _ in pts], [v[1] for _, v in pts], "o-", label="dev (this run)")
        ax.plot([i for i, _ in pts], [v[0] for _, v in pts], "s-", label="train (this run)")
    ax.set_xlabel("layers transferred")
    ax.set_ylabel("accuracy")
    ax.set_title(paper["title"])
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write(folder, stem, md, text):
    atomic_write(os.path.join(folder, stem + ".md"), md)
    atomic_write(os.path.join(folder, stem + ".csv"), text)
    return os.path.join(folder, stem + ".md"), os.path.join(folder, stem + ".csv")


def strip(args):
    a = copy.copy(args)
    for extra in ("table5", "sweep", "data_root"):
        delattr(a, extra)
    a.data_root = args.data_root
    return a


def run_variant(base, dataset, flags, tag, reproduce):
    a = variant_args(base, dataset, flags, tag)
    delattr(a, "data_root")
    return a, reproduce(a)


def run(args, reproduce, plot_hint):
    """reproduce --table5 / --sweep: every variant through `reproduce` (the command's
    seeds loop), then the tables."""
    # Here: analysis.py loads TensorFlow, which reproduce's --help and checks need not.
    from finetune_lm.training.analysis import read_log
    if not args.desc:
        raise UserError("--desc is required: the prefix of every variant's run")
    if not args.table5 and not args.sweep:
        raise UserError("nothing to run: expected --table5 TASK... or --sweep TASK...")
    folder = args.results_dir or args.log_dir
    base = strip(args)
    out = {}
    if args.table5:
        measured = {}
        for name, flags, _, _ in TABLE5_ROWS:
            tag = {(): "full"}.get(tuple(flags), "_".join("%s%s" % kv for kv in flags.items()))
            for d, key, _ in TABLE5_COLUMNS:
                if d in args.table5:
                    _, results = run_variant(base, d, flags, tag, reproduce)
                    measured.setdefault(name, {})[d] = column_value(results, d, key)
        md, text = table5(measured)
        out["table5"] = write(folder, "%s_table5" % args.desc, md, text)
        print(md)
    for d in args.sweep or ():
        measured = {}
        for k in SWEEP:
            a, results = run_variant(base, d, {"n_transfer": k}, "transfer%d" % k,
                                     reproduce)
            key = "accuracy"
            dev = median_of(results, "valid_" + key)
            trains = [best_train(read_log(os.path.join(a.log_dir, r["desc"] + ".jsonl")),
                                          "acc") for r in results]
            trains = [t for t in trains if t is not None]
            measured[k] = (float(sorted(trains)[len(trains) // 2]) if trains else None, dev)
        md, text = sweep_table(d, measured)
        stem = "%s_%s_sweep" % (args.desc, d)
        out[d] = write(folder, stem, md, text)
        print(md)
        if not plot_sweep(d, measured, os.path.join(folder, stem + ".png")):
            print("reproduce: no plot, matplotlib is not installed; for the plot: %s"
                  % plot_hint)
    return out
