"""Repeat a fine-tuning over several seeds and tabulate the accuracies.

    python -m finetune_lm.reproduce --runs 10 --dataset rocstories [train.py flags]
    python -m finetune_lm.reproduce --seeds 42 7 1234 --dataset rocstories [train.py flags]

`--runs N` takes the seeds --seed, --seed + 1, ... (42 .. 51 by default). Each seed
runs in this process as train.py would, with `--submit --analysis` implied, under
its own name `<desc>_seed<N>` (log `log_dir/<desc>_seed<N>.jsonl`, checkpoint and
best_params.jl in `save_dir/<desc>_seed<N>/`, submission in
`submission_dir/<desc>_seed<N>/`). A finished seed leaves
`save_dir/<desc>_seed<N>/result.json` (written atomically) and is skipped when the
command is started again; an interrupted one resumes from its checkpoint.

Then it writes `<results_dir>/<desc>_reproduce.csv` and `.md`: every run's best
valid figure and its test figure (the task's main metric; test where its labels are
public), their median, mean, sample standard deviation (ddof 1), min and max, beside
the paper's number (and the task's other references: for ROCStories the original
code's median of 85.8), and `<desc>_reproduce.png`, the figure per seed (needs
matplotlib: `pip install -e .[plot]`). results_dir defaults to --log_dir.
"""

import copy
import gc
import csv
import io
import os
import sys

import numpy as np

from finetune_lm import flags
from finetune_lm.training import ablation, checks, fine_tune
from finetune_lm.tasks import get_task
from finetune_lm.training.checkpoint import differing_flags, interrupted_message
from finetune_lm.util.errors import UserError, run_command
from finetune_lm.util.files import (atomic_open, atomic_write, atomic_write_json,
                                   check_writable, read_json)

PROG = "python -m finetune_lm.reproduce"

RESULT_FILE = "result.json"
PLOT_HINT = "pip install -e .[plot]"
STATS = (("median", np.median), ("mean", np.mean),
         ("std", lambda a: float(np.std(a, ddof=1)) if len(a) > 1 else 0.0),
         ("min", np.min), ("max", np.max))


def build_parser():
    p = flags.add_fine_tuning(flags.parser(PROG, flags.summary(__doc__)))
    g = p.add_mutually_exclusive_group()
    g.add_argument("--runs", type=int, default=10,
                   help="number of runs, seeds --seed, --seed + 1, ...")
    g.add_argument("--seeds", type=int, nargs="+", default=None, help="the seeds to run")
    p.add_argument("--results_dir", type=str, default=None,
                   help="folder of the table and plot (None: --log_dir)")
    g = p.add_argument_group("the paper's ablations (training/ablation.py, docs/analysis.md)")
    g.add_argument("--table5", nargs="+", default=None, choices=ablation.TABLE5_TASKS,
                   help="Table 5's three transformer rows (full, --n_transfer -1, --lm_coef "
                        "0) for these tasks, each a reproduce run, and the table")
    g.add_argument("--sweep", nargs="+", default=None, choices=tuple(ablation.FIGURE2_LEFT),
                   help="Figure 2 left's 14 points of --n_transfer (or those of --sweep_points) "
                        "for these tasks, each a reproduce run, and the table")
    g.add_argument("--sweep_points", type=int, nargs="+", default=None, metavar="K",
                   help="with --sweep: the points to run, values of --n_transfer among %s "
                        "(default: all 14); the others stay blank in the table and the plot"
                        % " ".join(str(k) for k in ablation.SWEEP))
    g.add_argument("--data_root", default=None,
                   help="with --table5/--sweep: the folder holding each task's folder "
                        "(default: datasets); every variant is checked before the first "
                        "run starts")
    return p


def seed_args(base, seed):
    """train.py's arguments for one seed."""
    args = copy.copy(base)
    for extra in ("runs", "seeds", "results_dir") + ablation.FLAGS:
        if hasattr(args, extra):  # (an ablation's variant has dropped its own)
            delattr(args, extra)
    args.seed = seed
    args.desc = "%s_seed%d" % (base.desc, seed)
    args.submission_dir = os.path.join(base.submission_dir, args.desc)
    args.submit = args.analysis = True
    return args


def result_path(args):
    return os.path.join(args.save_dir, args.desc, RESULT_FILE)


def finished_result(args):
    """The result.json of a finished run with these arguments, or None."""
    path = result_path(args)
    if not os.path.isfile(path):
        return None
    result = read_json(path)
    diff = differing_flags(result["args"], fine_tune.args_dict(args))
    if diff:
        raise UserError("%s was made with other arguments (%s); use another --desc or delete "
                        "save_dir/%s to start over" % (path, "; ".join(diff), args.desc))
    return result


def columns(task):
    """(valid column, test column or None, what the test column is): the task's main
    metric, best on valid, and on its first labelled analysis split (test where the
    labels are public)."""
    key = task.main_metric.key
    test_split = task.analysis[0] if task.analysis else None
    return ("valid_" + key, "%s_%s" % (test_split, key) if test_split else None,
            "%s %s" % (test_split, task.main_metric.display) if test_split else None)


def paper_rows(task):
    """[(row name, description, value)]: the paper's number(s) for the main metric,
    then the task's other references."""
    rows = []
    for label, value in task.paper.items():
        name = "paper" if not rows else "paper " + label
        rows.append((name, "Radford et al. 2018, %s" % label, value))
    for name, (what, value) in task.references.items():
        rows.append((name, what, value))
    return rows


def summary(results, task):
    """{statistic: (valid, test)} over the runs (test None without a test column)."""
    vcol, tcol, _ = columns(task)
    va = np.array([r[vcol] for r in results], np.float64)
    te = np.array([r[tcol] for r in results], np.float64) if tcol else None
    return {name: (float(f(va)), None if te is None else float(f(te))) for name, f in STATS}


def _fmt(value, spec="%.2f"):
    return "" if value is None else spec % value


def write_table(results, desc, folder, task):
    vcol, tcol, tname = columns(task)
    stats = summary(results, task)
    csv_path = os.path.join(folder, "%s_reproduce.csv" % desc)
    md_path = os.path.join(folder, "%s_reproduce.md" % desc)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    tcol_name = tcol or "test (no public labels: GLUE server)"
    w.writerow(["seed", "desc", vcol, tcol_name])
    for r in results:
        w.writerow([r["seed"], r["desc"], repr(r[vcol]), repr(r[tcol]) if tcol else ""])
    for name, (va, te) in stats.items():
        w.writerow([name, "", repr(va), "" if te is None else repr(te)])
    for name, what, value in paper_rows(task):
        w.writerow([name, what, "", value])
    atomic_write(csv_path, buf.getvalue())

    metric = task.main_metric.display
    tlabel = tname or "test (GLUE server)"
    lines = ["# %s: %s, %d runs" % (desc, task.display, len(results)), "",
             "| seed | run | best valid %s | %s |" % (metric, tlabel), "|---:|---|---:|---:|"]
    lines += ["| %d | %s | %.2f | %s |" % (r["seed"], r["desc"], r[vcol],
                                          _fmt(r[tcol]) if tcol else "") for r in results]
    lines += ["", "| | best valid %s | %s |" % (metric, tlabel), "|---|---:|---:|"]
    names = {"std": "std (sample, ddof 1)"}
    lines += ["| %s | %.2f | %s |" % (names.get(n, n), va, _fmt(te)) for n, (va, te) in stats.items()]
    lines += ["| %s | | %.1f |" % (what, value) for _, what, value in paper_rows(task)] + [""]
    atomic_write(md_path, "\n".join(lines))
    return csv_path, md_path


def plot(results, desc, folder, task):
    """The main figure per seed (test where labelled, else valid) as a PNG; None when
    matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    vcol, tcol, tname = columns(task)
    col, what = (tcol, tname) if tcol else (vcol, "best valid " + task.main_metric.display)
    seeds = [r["seed"] for r in results]
    values = [r[col] for r in results]
    median = float(np.median(values))
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(seeds))
    ax.plot(x, values, "o", color="C0", label="%s (one run per seed)" % what)
    ax.axhline(median, color="C0", lw=1.5, label="median of %d runs: %.2f" % (len(values), median))
    for i, (_, label, value) in enumerate(paper_rows(task)):
        ax.axhline(value, color="C%d" % (3 - i), ls=("--", ":", "-.")[i % 3],
                   label="%s: %.1f" % (label, value))
    ax.set_xticks(x)
    ax.set_xticklabels([str(s) for s in seeds])
    ax.set_xlabel("seed")
    ax.set_ylabel("%s %s" % (task.display, what))
    ax.set_title("%s: %d runs" % (desc, len(values)))
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path = os.path.join(folder, "%s_reproduce.png" % desc)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
    return path


def seeds_of(args):
    """The seeds of --runs or --seeds, in order, each once."""
    if args.seeds is None:
        if args.runs < 1:
            raise UserError("--runs %d: expected a positive number of runs" % args.runs)
        return [args.seed + i for i in range(args.runs)]
    return list(dict.fromkeys(args.seeds))


def check_seeds(args, seeds):
    """The checks after fine_tune.check_args(args): the folder of the table, each seed,
    and each finished seed's result.json against these arguments."""
    if args.results_dir:
        check_writable(args.results_dir, "--results_dir")
    for seed in seeds:
        a = seed_args(args, seed)
        checks.check(a)
        finished_result(a)


def check(args):
    """Every check of reproduce(args) that needs no slow work, on a copy of the
    arguments (theirs are checked again, and recorded, when the run starts); returns
    the seeds. The ablations check each variant with it before the first run."""
    seeds = seeds_of(args)
    check_seeds(fine_tune.check_args(copy.copy(args)), seeds)
    return seeds


def reproduce(args):
    """Run (or skip) every seed, then write the table and the plot; returns the results
    (those of every seed, or fewer on a worker that is not the chief of a multi-worker
    run)."""
    seeds = seeds_of(args)
    fine_tune.check_args(args)
    check_seeds(args, seeds)  # before the first run: not after hours of it
    task = get_task(args.dataset)
    vcol, tcol, tname = columns(task)
    folder = args.results_dir or args.log_dir
    cache = {}
    results = []
    for k, seed in enumerate(seeds):
        a = seed_args(args, seed)
        result = finished_result(a)
        if result is None:
            print("reproduce: seed %d (%d/%d) as %s" % (seed, k + 1, len(seeds), a.desc))
            out = fine_tune.run(a, cache=cache)
            gc.collect()  # the previous run's model and optimiser state
            if vcol not in out:  # not the chief of a multi-worker run
                continue
            result = {"seed": seed, "desc": a.desc, "n_updates": out["n_updates"],
                      "args": fine_tune.args_dict(a)}
            result.update({k: v for k, v in out.items() if k.startswith(
                ("valid_", "test_")) or k in (vcol, tcol)})
            atomic_write_json(result_path(a), result)
        else:
            print("reproduce: seed %d (%d/%d) already finished (%s): valid %.2f%s"
                  % (seed, k + 1, len(seeds), result_path(a), result[vcol],
                     ", %s %.2f" % (tname, result[tcol]) if tcol else ""))
        results.append(result)
    if len(results) < len(seeds):
        return results
    csv_path, md_path = write_table(results, args.desc, folder, task)
    stats = summary(results, task)
    col = 1 if tcol else 0
    print("reproduce: %d runs, %s median %.2f, mean %.2f, std %.2f, min %.2f, max %.2f (%s)"
          % ((len(results), tname or "best valid " + task.main_metric.display)
             + tuple(v[col] for v in stats.values())
             + ("; ".join("%s %.1f" % (what, value) for _, what, value in paper_rows(task)),)))
    print("reproduce: wrote %s and %s" % (csv_path, md_path))
    png = plot(results, args.desc, folder, task)
    if png:
        print("reproduce: wrote %s" % png)
    else:
        print("reproduce: no plot, matplotlib is not installed; for the plot: %s" % PLOT_HINT)
    return results


AGAIN = "interrupted; re-run the same command to go on (finished seeds are skipped)"


def main(argv=None):
    args = build_parser().parse_args(argv)
    if any(getattr(args, flag) is not None for flag in ablation.FLAGS):
        # (--sweep_points or --data_root alone: refused there, not ignored)
        return run_command(lambda a: ablation.run(a, reproduce, check, PLOT_HINT), args,
                           lambda: AGAIN)

    def interrupted():
        seeds = (args.seeds if args.seeds is not None
                 else [args.seed + i for i in range(max(args.runs, 0))])
        todo = [seed_args(args, s) for s in seeds] if args.desc else []
        todo = [a for a in todo if not os.path.isfile(result_path(a))]
        if todo:  # the seed that was running: the first one without its result
            return "%s; finished seeds are skipped" % interrupted_message(
                os.path.join(todo[0].save_dir, todo[0].desc, "checkpoint"))
        return AGAIN

    return run_command(reproduce, args, interrupted)


if __name__ == "__main__":
    sys.exit(main())
