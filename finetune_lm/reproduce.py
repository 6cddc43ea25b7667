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
valid and test accuracy, their median, mean, sample standard deviation (ddof 1),
min and max, beside the paper's 86.5 and the original code's median of 85.8, and
`<desc>_reproduce.png`, the test accuracies per seed (needs matplotlib:
`pip install -e .[plot]`). results_dir defaults to --log_dir.
"""

import copy
import gc
import csv
import io
import os
import sys

import numpy as np

from . import train
from .checkpoint import atomic_open, atomic_write, atomic_write_json, differing_flags, read_json
from .errors import UserError

PAPER = 86.5  # Radford et al. 2018, one run
ORIGINAL_MEDIAN = 85.8  # openai/finetune-transformer-lm README, median of 10 runs
RESULT_FILE = "result.json"
PLOT_HINT = "pip install -e .[plot]"
STATS = (("median", np.median), ("mean", np.mean),
         ("std", lambda a: float(np.std(a, ddof=1)) if len(a) > 1 else 0.0),
         ("min", np.min), ("max", np.max))


def build_parser():
    p = train.build_parser()
    p.description = __doc__.split("\n")[0]
    g = p.add_mutually_exclusive_group()
    g.add_argument("--runs", type=int, default=10,
                   help="number of runs, seeds --seed, --seed + 1, ... (default 10)")
    g.add_argument("--seeds", type=int, nargs="+", default=None, help="the seeds to run")
    p.add_argument("--results_dir", type=str, default=None,
                   help="folder of the table and plot (default: --log_dir)")
    return p


def seed_args(base, seed):
    """train.py's arguments for one seed."""
    args = copy.copy(base)
    for extra in ("runs", "seeds", "results_dir"):
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
    diff = differing_flags(result["args"], train.args_dict(args))
    if diff:
        raise UserError("%s was made with other arguments (%s); use another --desc or delete "
                        "save_dir/%s to start over" % (path, "; ".join(diff), args.desc))
    return result


def summary(results):
    """{statistic: (valid, test)} over the runs."""
    va = np.array([r["valid_accuracy"] for r in results], np.float64)
    te = np.array([r["test_accuracy"] for r in results], np.float64)
    return {name: (float(f(va)), float(f(te))) for name, f in STATS}


def write_table(results, desc, folder):
    stats = summary(results)
    csv_path = os.path.join(folder, "%s_reproduce.csv" % desc)
    md_path = os.path.join(folder, "%s_reproduce.md" % desc)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["seed", "desc", "valid_accuracy", "test_accuracy"])
    for r in results:
        w.writerow([r["seed"], r["desc"], repr(r["valid_accuracy"]), repr(r["test_accuracy"])])
    for name, (va, te) in stats.items():
        w.writerow([name, "", repr(va), repr(te)])
    w.writerow(["paper", "Radford et al. 2018, one run", "", PAPER])
    w.writerow(["original_median", "openai/finetune-transformer-lm, median of 10 runs", "",
                ORIGINAL_MEDIAN])
    atomic_write(csv_path, buf.getvalue())

    lines = ["# %s: %d runs" % (desc, len(results)), "",
             "| seed | run | best valid accuracy | test accuracy |", "|---:|---|---:|---:|"]
    lines += ["| %d | %s | %.2f | %.2f |" % (r["seed"], r["desc"], r["valid_accuracy"],
                                            r["test_accuracy"]) for r in results]
    lines += ["", "| | best valid accuracy | test accuracy |", "|---|---:|---:|"]
    names = {"std": "std (sample, ddof 1)"}
    lines += ["| %s | %.2f | %.2f |" % (names.get(n, n), va, te) for n, (va, te) in stats.items()]
    lines += ["| paper (Radford et al. 2018, one run) | | %.1f |" % PAPER,
              "| original code README (median of 10 runs) | | %.1f |" % ORIGINAL_MEDIAN, ""]
    atomic_write(md_path, "\n".join(lines))
    return csv_path, md_path


def plot(results, desc, folder):
    """The test accuracies per seed as a PNG; None when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    seeds = [r["seed"] for r in results]
    te = [r["test_accuracy"] for r in results]
    median = float(np.median(te))
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(seeds))
    ax.plot(x, te, "o", color="C0", label="test accuracy (one run per seed)")
    ax.axhline(median, color="C0", lw=1.5, label="median of %d runs: %.2f" % (len(te), median))
    ax.axhline(PAPER, color="C3", ls="--", label="paper: %.1f" % PAPER)
    ax.axhline(ORIGINAL_MEDIAN, color="C2", ls=":", label="original median of 10: %.1f"
               % ORIGINAL_MEDIAN)
    ax.set_xticks(x)
    ax.set_xticklabels([str(s) for s in seeds])
    ax.set_xlabel("seed")
    ax.set_ylabel("ROCStories test accuracy (%)" if "roc" in desc else "test accuracy (%)")
    ax.set_title("%s: %d runs" % (desc, len(te)))
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path = os.path.join(folder, "%s_reproduce.png" % desc)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
    return path


def reproduce(args):
    """Run (or skip) every seed, then write the table and the plot; returns the results."""
    if args.seeds is None:
        if args.runs < 1:
            raise UserError("--runs %d: expected a positive number of runs" % args.runs)
        seeds = [args.seed + i for i in range(args.runs)]
    else:
        seeds = list(dict.fromkeys(args.seeds))
    train.check_args(args)
    folder = args.results_dir or args.log_dir
    cache = {}
    results = []
    for k, seed in enumerate(seeds):
        a = seed_args(args, seed)
        result = finished_result(a)
        if result is None:
            print("reproduce: seed %d (%d/%d) as %s" % (seed, k + 1, len(seeds), a.desc))
            out = train.run(a, cache=cache)
            gc.collect()  # the previous run's model and optimiser state
            if "test_accuracy" not in out:  # not the chief of a multi-worker run
                continue
            result = {"seed": seed, "desc": a.desc, "valid_accuracy": out["valid_accuracy"],
                      "test_accuracy": out["test_accuracy"], "n_updates": out["n_updates"],
                      "args": train.args_dict(a)}
            atomic_write_json(result_path(a), result)
        else:
            print("reproduce: seed %d (%d/%d) already finished (%s): valid %.2f, test %.2f"
                  % (seed, k + 1, len(seeds), result_path(a), result["valid_accuracy"],
                     result["test_accuracy"]))
        results.append(result)
    if len(results) < len(seeds):
        return results
    csv_path, md_path = write_table(results, args.desc, folder)
    stats = summary(results)
    print("reproduce: %d runs, test accuracy median %.2f, mean %.2f, std %.2f, min %.2f, "
          "max %.2f (paper %.1f, original median %.1f)"
          % ((len(results),) + tuple(te for _, te in stats.values()) + (PAPER, ORIGINAL_MEDIAN)))
    print("reproduce: wrote %s and %s" % (csv_path, md_path))
    png = plot(results, args.desc, folder)
    if png:
        print("reproduce: wrote %s" % png)
    else:
        print("reproduce: no plot, matplotlib is not installed; for the plot: %s" % PLOT_HINT)
    return results


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        reproduce(args)
    except UserError as err:
        print("error: %s" % err, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
