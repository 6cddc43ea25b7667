"""Fine-tune GPT-1 on a task with the combined classification + LM loss.

The command line and outputs of the original train.py (openai/finetune-transformer-lm):

    python train.py --dataset rocstories --desc rocstories --submit --analysis \
        --data_dir datasets/rocstories

Logs `log_dir/<desc>.jsonl`, keeps `save_dir/<desc>/best_params.jl`, writes
`submission_dir/ROCStories.tsv` and prints the valid and test accuracy.

Added here:
- Resume. At each epoch end, and every `--save_every` updates (default 0: epoch
  ends only), the run checkpoints to `save_dir/<desc>/checkpoint/` (parameters,
  Adam m/v/t, the numpy RNG state, the best valid accuracy, the epoch's order and
  next batch, the log so far; see finetune_lm/training/checkpoint.py). The same command
  started again goes on from there and ends with what an uninterrupted run gives;
  other arguments are refused (naming the flags); a finished run is not retrained.
  Delete that folder to start over.
- Every file is written to a temporary file and renamed over the old one.
- A NaN or infinite loss or gradient norm stops the run (`error: ...`, exit 2),
  naming the update and keeping the last good checkpoint.
- TensorBoard scalars in `log_dir/<desc>/`: learning_rate and grad_norm per update,
  train/valid cost and accuracy per evaluation.
"""

import os
import sys

from finetune_lm import flags
from finetune_lm.tasks import all_tasks
# The job itself lives in the training layer; its names stay importable from here.
from finetune_lm.training.fine_tune import (GPT1_SIZES, args_dict, check_args, check_batch,  # noqa: F401
                                            data_keys, describe, fine_tune, prepare,
                                            resolve_sizes, run, run_paths)
from finetune_lm.training.checkpoint import interrupted_message
from finetune_lm.util.errors import run_command

PROG = "python train.py"


def build_parser():
    tasks = all_tasks()
    p = flags.parser(PROG, "%s Tasks: %s." % (__doc__.split("\n")[0], ", ".join(sorted(tasks))))
    g = p.add_argument_group("the task and its outputs")
    g.add_argument("--dataset", type=str, default=None,
                   help="task to fine-tune on (required): %s" % ", ".join(sorted(tasks)))
    g.add_argument("--data_dir", type=str, default=None,
                   help="folder of the task's files (default: datasets/<the task's folder>)")
    g.add_argument("--submission_dir", type=str, default="submission/",
                   help="folder of the test predictions that --submit writes")
    g.add_argument("--submit", action="store_true",
                   help="keep the best parameters (best_params.jl) and predict the test set")
    g.add_argument("--analysis", action="store_true",
                   help="print the best valid and the test scores (needs --submit)")
    g.add_argument("--lm_coef", type=float, default=0.5,
                   help="weight of the language-model loss beside the task's (>= 0)")
    g.add_argument("--n_transfer", type=int, default=None,
                   help="layers loaded from --params_dir (default: all of the folder's, 12 "
                        "for the release; -1: load nothing, train from scratch, needs only "
                        "the two vocabulary files)")
    g.add_argument("--opt", type=str, default="adam", help="optimiser (adam only)")
    g.add_argument("--unverified_weights", action="store_true",
                   help="load weights in the released format that are not the release "
                        "(converted, re-saved) without checking them; prints a warning")
    flags.add_run(p)
    flags.add_size(p, from_folder=True)
    flags.add_dropout(p)
    flags.add_optimizer(p)
    flags.add_devices(p)
    flags.add_vocabulary(p, "folder of the GPT-1 weights and vocabulary (python -m "
                            "finetune_lm.download), verified against the release's ids or "
                            "the folder's own manifest.json; or a Hugging Face GPT-1 folder "
                            "(model.safetensors, vocab.json, merges.txt)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)

    def job(args):
        check_args(args)
        run(args)

    return run_command(job, args, lambda: interrupted_message(
        os.path.join(args.save_dir, args.desc or args.dataset or "", "checkpoint")))


if __name__ == "__main__":
    sys.exit(main())
