"""Benchmark of your own data's path before training: reading and checking a CSV of
`--rows` synthetic labelled rows (`--dataset custom`'s loader), then its BPE encoding
and input transformation (data/inputs.py, every core, no cache).

    python -m finetune_lm.bench_encode --rows 100000 --params_dir params/

Prints one `name: value` line per figure: rows, read_rows_per_s (reading, the
header and label checks, the held-out split), encode_rows_per_s (spaCy + BPE of the
distinct texts and the transformation), total_rows_per_s. The texts are drawn from
the vocabulary's own words (seeded, by Zipf's law), two fields per row (an entailment pair).
"""

import csv
import os
import sys
import tempfile
import time

import numpy as np

from finetune_lm import flags
from finetune_lm.data.text import load_encoder
from finetune_lm.tasks import CUSTOM, task_for_args
from finetune_lm.util.errors import UserError, command_main

PROG = "python -m finetune_lm.bench_encode"


def build_parser():
    p = flags.parser(PROG, flags.summary(__doc__))
    p.add_argument("--rows", type=int, default=100000, help="rows of the synthetic file")
    p.add_argument("--words", type=int, default=12, help="words per text")
    p.add_argument("--seed", type=int, default=0, help="seed of the texts")
    p.add_argument("--n_ctx", type=int, default=512, help="--n_ctx of the transformation")
    flags.add_vocabulary(p)
    return p


def write_rows(path, n, n_words, vocab, seed):
    """A CSV of n rows: id, premise, hypothesis, label (3 classes)."""
    # Whole words of the vocabulary in its order (about that of frequency), drawn with
    # Zipf's law as words of real text are: the encoder's per-word cache sees repeats.
    words = [w[:-4] for w in vocab if w.endswith("</w>") and w[:-4].isalpha()]
    rng = np.random.RandomState(seed)
    picks = np.minimum(rng.zipf(1.3, size=(n, 2, n_words)) - 1, len(words) - 1)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "premise", "hypothesis", "label"])
        for i in range(n):
            w.writerow([i, " ".join(words[j] for j in picks[i, 0]),
                        " ".join(words[j] for j in picks[i, 1]), "abc"[i % 3]])


def run(args, out=print):
    from finetune_lm.data import inputs
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rows.csv")
        write_rows(path, args.rows, args.words, load_encoder(args.encoder_path), args.seed)
        # The task flags as train.py parses them.
        targs = flags.add_fine_tuning(flags.parser(PROG, "")).parse_args([
            "--dataset", CUSTOM, "--train_file", path,
            "--text_fields", "premise,hypothesis", "--label_field", "label"])
        t0 = time.perf_counter()
        task = task_for_args(targs)
        splits = task.load(tmp)
        t1 = time.perf_counter()
        inputs.prepare_task(task, splits, args.encoder_path, args.bpe_path, args.n_ctx,
                            verbose=False)
        t2 = time.perf_counter()
    out("rows: %d" % args.rows)
    out("read_rows_per_s: %.6g" % (args.rows / (t1 - t0)))
    out("encode_rows_per_s: %.6g" % (args.rows / (t2 - t1)))
    out("total_rows_per_s: %.6g" % (args.rows / (t2 - t0)))
    return {"read_s": t1 - t0, "encode_s": t2 - t1}


def check_args(args):
    if args.rows < 20 or args.words < 1:
        raise UserError("--rows %d --words %d: expected at least 20 rows (10%% are held out) "
                        "and 1 word" % (args.rows, args.words))
    flags.vocabulary_paths(args)
    for flag, path in (("--encoder_path", args.encoder_path), ("--bpe_path", args.bpe_path)):
        if not os.path.isfile(path):
            raise UserError("%s %s: no such file; expected the GPT-1 vocabulary (--params_dir)"
                            % (flag, path))


def main(argv=None):
    # run and the check looked up at each call, so a test can replace them.
    return command_main(build_parser, run, check=check_args)(argv)


if __name__ == "__main__":
    sys.exit(main())
