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
from finetune_lm.tasks import dataset_names
# The job itself lives in the training layer; its names stay importable from here.
from finetune_lm.training.fine_tune import (  # noqa: F401
    GPT1_SIZES, args_dict, check_args, check_batch, data_keys, describe, fine_tune, prepare,
    resolve_sizes, run, run_paths)
from finetune_lm.training.checkpoint import interrupted_message
from finetune_lm.util.errors import run_command

PROG = flags.TRAIN_PROG


def build_parser():
    return flags.fine_tuning_parser("%s Tasks: %s." % (flags.summary(__doc__),
                                                       ", ".join(dataset_names())))


def main(argv=None):
    args = build_parser().parse_args(argv)

    def job(args):
        check_args(args)
        run(args)

    return run_command(job, args, lambda: interrupted_message(
        os.path.join(args.save_dir, args.desc or args.dataset or "", "checkpoint")))


if __name__ == "__main__":
    sys.exit(main())
