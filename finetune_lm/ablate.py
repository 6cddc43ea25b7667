"""Table 5's ablations and Figure 2 left's sweep (the paper's section 5) as runs of
reproduce: each variant of each task is `python -m finetune_lm.reproduce` under its own
desc `<desc>_<task>_<variant>` (the same seeds, result.json per seed, finished seeds
skipped on a re-run), then the table beside the paper's numbers.

    python -m finetune_lm.ablate --desc abl --table5 cola sst2 ... [--runs N] [train.py flags]
    python -m finetune_lm.ablate --desc fig2 --sweep mnli race [--runs N] [train.py flags]

--table5 TASK...: any subset of Table 5's eight GLUE tasks, three rows each (full;
w/o pre-training: --n_transfer -1; w/o aux LM: --lm_coef 0); writes
`<results_dir>/<desc>_table5.md` and `.csv` (the median over seeds of the best dev
figure; Avg the unweighted mean of the 8 columns, MNLI the mean of m and mm, as the
paper; the LSTM row is the paper's, with why it is not run). --sweep TASK...: the 14
points of Figure 2 left (--n_transfer -1, 0, 1..12), train and dev accuracy, in
`<desc>_<task>_sweep.md`/`.csv` and a PNG beside the paper's values read off the figure
(the PNG needs matplotlib: pip install -e .[plot]). --data_root: the folder holding each
task's folder (default datasets/). docs/analysis.md describes both.
"""

import os
import sys

from finetune_lm import reproduce
from finetune_lm.tasks.ablation import FIGURE2_LEFT, SWEEP, TABLE5_COLUMNS, TABLE5_ROWS
from finetune_lm.training import ablation
from finetune_lm.training.analysis import read_log
from finetune_lm.util.errors import UserError, run_command

PROG = "python -m finetune_lm.ablate"
TABLE5_TASKS = tuple(d for d, _, _ in TABLE5_COLUMNS)


def build_parser():
    p = reproduce.build_parser()
    p.prog = PROG
    p.description = ("Table 5's ablations and Figure 2 left's sweep (the paper's section 5) "
                     "as runs of reproduce.")
    p.add_argument("--table5", nargs="+", default=None, choices=TABLE5_TASKS,
                   help="Table 5's three transformer rows for these tasks")
    p.add_argument("--sweep", nargs="+", default=None, choices=tuple(FIGURE2_LEFT),
                   help="Figure 2 left's 14 points of --n_transfer for these tasks")
    p.add_argument("--data_root", default=None,
                   help="the folder holding each task's folder (default: datasets)")
    return p


def strip(args):
    a = reproduce.copy.copy(args)
    for extra in ("table5", "sweep", "data_root"):
        delattr(a, extra)
    a.data_root = args.data_root
    return a


def run_variant(base, dataset, flags, tag):
    a = ablation.variant_args(base, dataset, flags, tag)
    delattr(a, "data_root")
    return a, reproduce.reproduce(a)


def run(args):
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
                    _, results = run_variant(base, d, flags, tag)
                    measured.setdefault(name, {})[d] = ablation.column_value(results, d, key)
        md, text = ablation.table5(measured)
        out["table5"] = ablation.write(folder, "%s_table5" % args.desc, md, text)
        print(md)
    for d in args.sweep or ():
        measured = {}
        for k in SWEEP:
            a, results = run_variant(base, d, {"n_transfer": k}, "transfer%d" % k)
            key = "accuracy"
            dev = ablation.median_of(results, "valid_" + key)
            trains = [ablation.best_train(read_log(os.path.join(a.log_dir, r["desc"] + ".jsonl")),
                                          "acc") for r in results]
            trains = [t for t in trains if t is not None]
            measured[k] = (float(sorted(trains)[len(trains) // 2]) if trains else None, dev)
        md, text = ablation.sweep_table(d, measured)
        stem = "%s_%s_sweep" % (args.desc, d)
        out[d] = ablation.write(folder, stem, md, text)
        print(md)
        if not ablation.plot_sweep(d, measured, os.path.join(folder, stem + ".png")):
            print("ablate: no plot, matplotlib is not installed; for the plot: %s"
                  % reproduce.PLOT_HINT)
    return out


def main(argv=None):
    return run_command(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
