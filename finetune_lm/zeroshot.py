"""Zero-shot heuristics of the paper's section 5 (Figure 2 right): the pre-trained
language model alone, no fine-tuning.

    python -m finetune_lm.zeroshot --task sst2|cola|race|dprd --params_dir DIR
        [--split valid] [--data_dir DIR] [--output FILE.tsv] [--n_batch 8]

--params_dir: any weights finetune_lm.sample reads (the release, a pre-training output,
a Hugging Face GPT-1 folder; --checkpoint: a train.py best_params.jl). Texts are encoded
with the same BPE encoder as fine-tuning. Prints every choice the paper leaves open,
the raw metric and the relative score (0 = random guessing, 1 = the single-model state
of the art named on the `sota` line); the last line is
`<task> <split> <metric> <value> relative <value>`. --output writes one row per example
(index, label, prediction, scores). The heuristics are declared in
finetune_lm/tasks/zeroshot.py; docs/analysis.md describes each.
"""

import json
import os
import sys

import numpy as np
from tqdm import tqdm

from finetune_lm import flags
from finetune_lm.flags import add_model_flags
from finetune_lm.tasks.zeroshot import BY_NAME, NAMES
from finetune_lm.util.errors import UserError, command_main
from finetune_lm.util.files import atomic_write

PROG = "python -m finetune_lm.zeroshot"



def load_model(args):
    """(text encoder, the language model's variables, its HParams) from the model flags,
    through training/model.Model as sample and perplexity load it."""
    encoder, model = flags.load_model(args)
    return encoder, model.lm_params, model.hp

def build_parser():
    p = flags.parser(PROG, "Zero-shot heuristics of the paper's section 5 (Figure 2 right) with "
                             "the pre-trained language model alone.")
    p.add_argument("--task", default=None, choices=NAMES, help="the heuristic's task")
    p.add_argument("--curve", default=None, metavar="LOG.jsonl",
                   help="instead: draw Figure 2 right from a pre-training log written with "
                        "pretrain --zeroshot ... --zeroshot_at ... (CSV, markdown, PNG beside it)")
    p.add_argument("--split", default=None,
                   help="the split to evaluate (default: the task's dev split; DPRD: test)")
    p.add_argument("--data_dir", default=None,
                   help="the task's data folder (default: datasets/<its folder>)")
    p.add_argument("--threshold", type=float, default=None,
                   help="CoLA: the score threshold (default: fitted on train, maximising "
                        "Matthews' correlation)")
    p.add_argument("--limit", type=int, default=0,
                   help="the first N examples only (0: all), for a quick look")
    p.add_argument("--output", default=None, help="per-example scores, a TSV file")
    p.add_argument("--n_batch", type=int, default=8, help="sequences per batch")
    add_model_flags(p)
    return p


def heuristic_lines(zs):
    """The lines that state the heuristic's open choices and its denominators."""
    lines = ["choice: %s" % c for c in zs.choices]
    lines.append("sota: %.2f, %s; chance %.2f" % (zs.sota, zs.sota_what, zs.chance))
    lines.append("paper: relative %.2f at the end of pre-training (read off Figure 2 right)"
                 % zs.paper_end)
    return lines


def score(zs, params, hp, encoder, split, fit=None, threshold=None, n_batch=8, bar=True):
    """evaluate() of lm/zeroshot.py with a progress bar."""
    from finetune_lm.lm import zeroshot as engine
    from finetune_lm.lm.scorer import Scorer
    lp = Scorer(params, hp, n_batch=n_batch).sequence_logprobs  # Model.sequence_logprobs' engine
    encode = engine.Encoded(encoder)
    with tqdm(total=engine.n_scored(zs, split, None if threshold is not None else fit),
              desc="zeroshot %s" % zs.name, unit="seq", ncols=80, leave=False,
              file=sys.stderr, disable=not bar) as pbar:
        return engine.evaluate(zs, lp, encode, hp.n_ctx, split, fit, threshold, pbar.update)


def write_output(path, split, result):
    scores = np.asarray(result["scores"])
    cols = (["score%d" % k for k in range(scores.shape[1])] if scores.ndim == 2 else ["score"])
    lines = ["\t".join(["index", "label", "prediction"] + cols)]
    for i, idx in enumerate(split.index):
        row = scores[i] if scores.ndim == 2 else [scores[i]]
        lines.append("\t".join([str(idx), str(int(split.labels[i])),
                                str(int(result["predictions"][i]))]
                               + ["%.6f" % v for v in row]))
    atomic_write(path, "\n".join(lines) + "\n")


def curve_points(log_path):
    """[(updates, task, metric, value, relative)] of a pre-training log's zeroshot lines."""
    with open(log_path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return [(l["n_updates"], name, r["metric"], r["value"], r["relative"])
            for l in lines if isinstance(l.get("zeroshot"), dict)  # (line 1: the flags)
            for name, r in sorted(l["zeroshot"].items())]


def write_curve(log_path, out):
    """<log>_zeroshot.csv / .md (always) and .png (with matplotlib) of Figure 2 right."""
    if not os.path.isfile(log_path):
        raise UserError("--curve %s: no such file; expected a pretrain run's log "
                        "(log_dir/<desc>.jsonl)" % log_path)
    points = curve_points(log_path)
    if not points:
        raise UserError("--curve %s holds no zeroshot lines; expected a run of pretrain "
                        "--zeroshot TASK... --zeroshot_at N,..." % log_path)
    stem = os.path.splitext(log_path)[0] + "_zeroshot"
    rows = ["updates,task,metric,value,relative"] + ["%d,%s,%s,%r,%r" % p for p in points]
    atomic_write(stem + ".csv", "\n".join(rows) + "\n")
    md = ["| updates | task | metric | value | relative | paper's end value (read off Figure 2) |",
          "|---:|---|---|---:|---:|---:|"]
    md += ["| %d | %s | %s | %.2f | %.3f | %.2f |" % (p + (BY_NAME[p[1]].paper_end,))
           for p in points]
    atomic_write(stem + ".md", "\n".join(md) + "\n")
    out.write("wrote %s.csv and %s.md\n" % (stem, stem))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        out.write("no plot, matplotlib is not installed; for the plot: pip install -e .[plot]\n")
        return points
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(p[1] for p in points):
        xs = [p[0] for p in points if p[1] == name]
        ax.plot(xs, [p[4] for p in points if p[1] == name], "o-", label=BY_NAME[name].curve)
    ax.set_xscale("log")
    ax.set_xlabel("pre-training updates")
    ax.set_ylabel("zero-shot relative score")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(stem + ".png", dpi=120)
    plt.close(fig)
    out.write("wrote %s.png\n" % stem)
    return points


def check_args(args):
    """The flags, before TensorFlow starts: a task, unless --curve."""
    if not args.curve and not args.task:
        raise UserError("--task is required: one of %s (or --curve LOG.jsonl)" % ", ".join(NAMES))


def run(args, out=None):
    out = out or sys.stdout
    check_args(args)
    if args.curve:
        return write_curve(args.curve, out)
    zs = BY_NAME[args.task]
    split_name = args.split or zs.default_split
    data_dir = args.data_dir or os.path.join("datasets", zs.folder)
    from finetune_lm.lm.zeroshot import load_split
    split, fit = load_split(zs, data_dir, split_name, args.limit)
    encoder, params, hp = load_model(args)
    for line in heuristic_lines(zs):
        out.write(line + "\n")
    result = score(zs, params, hp, encoder, split, fit, args.threshold, args.n_batch)
    if result["threshold"] is not None:
        out.write("threshold: %.6f (%s)\n" % (result["threshold"], "--threshold"
                  if args.threshold is not None else "fitted on %s's %s split, %d examples"
                  % (zs.title, zs.fit_split, len(fit))))
    if result["cut"]:
        out.write("note: %d sequences longer than %d tokens kept their last %d\n"
                  % (result["cut"], hp.n_ctx, hp.n_ctx))
    if args.output:
        write_output(args.output, split, result)
        out.write("wrote %s\n" % args.output)
    key = zs.metric.key
    out.write("%s %s: %d examples, %s %.2f, relative %.3f\n"
              % (zs.title, split_name, len(split), zs.metric.display, result["value"],
                 result["relative"]))
    out.write("%s %s %s %.4f relative %.4f\n"
              % (zs.name, split_name, key, result["value"], result["relative"]))
    out.flush()
    return result


def main(argv=None):
    # run and check_args looked up at each call, so a test can replace them; a missing
    # --task answers before TensorFlow's start-up.
    return command_main(build_parser, run, check=check_args)(argv)


if __name__ == "__main__":
    sys.exit(main())
