"""Table 5's ablations and Figure 2 left's sweep as runs of reproduce (finetune_lm/
reproduce.py: every seed, its result.json, resumable), and their tables beside the
paper's numbers (tasks/ablation.py). Names no task: the columns come from the
declarations."""

import collections
import copy
import csv
import io
import os

import numpy as np

from finetune_lm.tasks import get_task
from finetune_lm.tasks.ablation import (FIGURE2_LEFT, LSTM_ROW, SWEEP, TABLE5_COLUMNS,
                                        TABLE5_ROWS, TABLE5_SECOND)
from finetune_lm.training import fine_tune
from finetune_lm.util.errors import UserError
from finetune_lm.util.files import atomic_open, atomic_write

TABLE5_TASKS = tuple(d for d, _, _ in TABLE5_COLUMNS)
# reproduce's flags of the ablations: not train.py's, dropped from each variant's run.
FLAGS = ("table5", "sweep", "sweep_points", "data_root")
# The model's sizes: a variant without pre-training takes the weights' (see sized).
SIZES = ("n_embd", "n_head", "n_layer", "n_ctx")


def variant_args(base, dataset, flags, tag, root=None):
    """reproduce's arguments for one task and one variant: the flags set, the desc
    `<desc>_<dataset>_<tag>`, the data folder `<root>/<the task's folder>` (root:
    --data_root, default datasets/); without the ablations' own flags."""
    args = copy.copy(base)
    for extra in FLAGS:
        if hasattr(args, extra):
            delattr(args, extra)
    args.dataset = dataset
    for k, v in flags.items():
        setattr(args, k, v)
    args.desc = "%s_%s_%s" % (base.desc, dataset, tag)
    args.data_dir = os.path.join(root or "datasets", get_task(dataset).folder)
    return args


def sized(args, sizes):
    """A variant with --n_transfer -1 takes the sizes left out from `sizes` (those the
    weights give the variants that load them): without it, it would build GPT-1's
    sizes (fine_tune.resolve_sizes), another model than the rows it is compared with
    whenever the weights are not the release's."""
    if args.n_transfer == -1:
        for flag in SIZES:
            if getattr(args, flag) is None:
                setattr(args, flag, sizes[flag])
    return args


def weights_sizes(args):
    """{size flag: value} of a run that loads the weights (the flags given, or the
    weights' own); checks that run's arguments."""
    a = copy.copy(args)
    if a.n_transfer == -1:
        a.n_transfer = None  # all the folder's layers
    a = fine_tune.check_args(a)
    return {flag: getattr(a, flag) for flag in SIZES}


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


def best_train(log_lines, name):
    """tr_<name> at the first evaluation with the best va_<name> (the one whose
    parameters the run keeps: the loop keeps a strictly better figure only), on the
    train subset the original evaluates, as the log records it."""
    evals = [l for l in log_lines if "va_" + name in l]
    if not evals:
        return None
    best = max(evals, key=lambda l: l["va_" + name])
    return best.get("tr_" + name)


def sweep_figures(results, metric, log_dir):
    """(train, dev) of one point over its seeds: the medians of the log's train figure
    at the best dev evaluation (best_train) and of the best dev figure (result.json)."""
    from finetune_lm.training.analysis import read_log  # loads TensorFlow: only here
    trains = [best_train(read_log(os.path.join(log_dir, r["desc"] + ".jsonl")), metric.name)
              for r in results]
    trains = [t for t in trains if t is not None]
    return (float(np.median(trains)) if trains else None,
            median_of(results, "valid_" + metric.key))


def sweep_table(dataset, measured, metric="accuracy"):
    """(markdown, csv). measured: {n_transfer: (train, dev)} for the points run; the
    others are blank."""
    paper = FIGURE2_LEFT[dataset]
    lines = ["# Figure 2 left: %s, layers transferred (%s)" % (paper["title"], metric), "",
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


def plot_sweep(dataset, measured, path, metric="accuracy"):
    """Figure 2 left's panel as a PNG beside the paper's values (the points not run, or
    without a figure, left out); False without matplotlib."""
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
    for col, style, label in ((1, "o-", "dev (this run)"), (0, "s-", "train (this run)")):
        pts = [(i, measured[k][col]) for i, k in enumerate(SWEEP)
               if measured.get(k, (None, None))[col] is not None]
        if pts:
            ax.plot([i for i, _ in pts], [v for _, v in pts], style, label=label)
    ax.set_xlabel("layers transferred")
    ax.set_ylabel(metric)
    ax.set_title(paper["title"])
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
    return True


def write(folder, stem, md, text):
    atomic_write(os.path.join(folder, stem + ".md"), md)
    atomic_write(os.path.join(folder, stem + ".csv"), text)
    return os.path.join(folder, stem + ".md"), os.path.join(folder, stem + ".csv")


def table5_tag(flags):
    """A row's part of the desc: full, n_transfer-1, lm_coef0.0."""
    return "_".join("%s%s" % kv for kv in flags.items()) or "full"


def sweep_points(args):
    """--sweep_points as values of SWEEP, in the figure's order (default: all 14)."""
    given = getattr(args, "sweep_points", None)
    if given is None:
        return SWEEP
    if not args.sweep:
        raise UserError("--sweep_points %s: expected --sweep TASK... beside it (the points of "
                        "Figure 2 left to run)" % " ".join(str(k) for k in given))
    wrong = [k for k in given if k not in SWEEP]
    if wrong:
        raise UserError("--sweep_points %s: expected values of --n_transfer among %s (Figure 2 "
                        "left's 14 points)" % (" ".join(str(k) for k in wrong),
                                               " ".join(str(k) for k in SWEEP)))
    return tuple(k for k in SWEEP if k in given)


class Variant(collections.namedtuple("Variant", "kind dataset key flags tag")):
    """One reproduce run of the command: kind "table5" (key: the row's name) or "sweep"
    (key: the point's --n_transfer)."""

    @property
    def where(self):
        if self.kind == "table5":
            return "--table5 %s, row %r%s" % (self.dataset, self.key, "".join(
                " (--%s %s)" % kv for kv in self.flags.items()))
        return "--sweep %s, point --n_transfer %d" % (self.dataset, self.key)


def variants(args):
    """Every reproduce run of the command, in the order they run: Table 5 row by row,
    then each sweep point by point."""
    out = [Variant("table5", d, name, flags, table5_tag(flags))
           for name, flags, _, _ in TABLE5_ROWS for d in TABLE5_TASKS if d in (args.table5 or ())]
    for d in dict.fromkeys(args.sweep or ()):
        out += [Variant("sweep", d, k, {"n_transfer": k}, "transfer%d" % k)
                for k in sweep_points(args)]
    return out


def checked_variants(args, check):
    """[(variant, its reproduce arguments, its number of seeds)], each checked by
    `check` (reproduce.check: the flags, the data folder, the weights against
    --n_transfer, the seeds, any finished seed's result.json; returns the seeds) before
    any run starts, so that a fault of the last variant does not show hours in; the
    error names the variant."""
    out, sizes = [], None
    for v in variants(args):
        a = variant_args(args, v.dataset, v.flags, v.tag, args.data_root)
        try:
            if a.n_transfer == -1 and any(getattr(a, f) is None for f in SIZES):
                sizes = sizes or weights_sizes(variant_args(args, v.dataset, {}, "full",
                                                            args.data_root))
                a = sized(a, sizes)
            n_seeds = len(check(a))
        except UserError as err:
            raise UserError("%s: %s" % (v.where, err)) from None
        out.append((v, a, n_seeds))
    return out


def run(args, reproduce, check, plot_hint):
    """reproduce --table5 / --sweep: every variant checked (checked_variants), then run
    through `reproduce` (the command's seeds loop), then the tables. On a worker that is
    not the chief of a multi-worker run (fewer results than seeds) no table is written."""
    if not args.desc:
        raise UserError("--desc is required: the prefix of every variant's run")
    sweep_points(args)  # --sweep_points without --sweep, or a value off the figure
    if not args.table5 and not args.sweep:
        raise UserError("nothing to run: expected --table5 TASK... or --sweep TASK...")
    folder = args.results_dir or args.log_dir
    todo = checked_variants(args, check)
    print("reproduce: %d variants checked: %s" % (len(todo), ", ".join(a.desc for _, a, _ in todo)))
    done = []
    for v, a, n_seeds in todo:
        results = reproduce(a)
        if len(results) < n_seeds:  # not the chief: the tables are the chief's
            return {}
        done.append((v, a, results))
    out = {}
    if args.table5:
        measured = {}
        for v, _, results in done:
            if v.kind == "table5":
                measured.setdefault(v.key, {})[v.dataset] = column_value(
                    results, v.dataset, get_task(v.dataset).main_metric.key)
        md, text = table5(measured)
        out["table5"] = write(folder, "%s_table5" % args.desc, md, text)
        print(md)
    for d in dict.fromkeys(args.sweep or ()):
        metric = get_task(d).main_metric
        measured = {v.key: sweep_figures(results, metric, a.log_dir)
                    for v, a, results in done if v.kind == "sweep" and v.dataset == d}
        md, text = sweep_table(d, measured, metric.display)
        stem = "%s_%s_sweep" % (args.desc, d)
        out[d] = write(folder, stem, md, text)
        print(md)
        if not plot_sweep(d, measured, os.path.join(folder, stem + ".png"), metric.display):
            print("reproduce: no plot, matplotlib is not installed; for the plot: %s"
                  % plot_hint)
    return out
