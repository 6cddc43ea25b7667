"""The command line of every command, declared once: flag groups (model size, dropout,
optimiser, devices, paths, the run), one table of checks and one function from flags to HParams.

A command builds its parser from the groups it needs (`parser(...)` then `add_*`),
passing its own defaults where they differ (pre-training's recipe); `check(args)`
(training/checks.py) applies every check of the table to the flags the command has,
before any slow work (no TensorFlow is imported). A bad flag is one `error:` line and exit status 2,
as every other bad input.
"""

import argparse
import os
import sys

from finetune_lm.tasks import add_flags as add_task_flags
from finetune_lm.tasks import dataset_names
# The checks and flags -> HParams live in the training layer, for the library code too.
from finetune_lm.training.checks import CHECKS, check, hparams, vocabulary_paths  # noqa: F401

EPILOG = ("Bad input stops with one `error:` line and exit status 2; Ctrl-C stops with one "
          "line naming what is kept. TensorFlow's own start-up logs are hidden: set "
          "TF_CPP_MIN_LOG_LEVEL (e.g. TF_CPP_MIN_LOG_LEVEL=0) to see them.")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default after its meaning; on/off switches and the options whose
    default is computed (None) say it in words."""

    def _get_help_string(self, action):
        if action.nargs == 0 or action.default is None or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse, whose errors (an unknown flag, a malformed value) are one `error:`
    line naming the flag and a pointer to --help, instead of the usage block."""

    def error(self, message):
        print("error: %s; see %s --help" % (message, self.prog), file=sys.stderr)
        sys.exit(2)


def summary(doc):
    """A module docstring's first paragraph on one line: a command's description (its
    first line alone can stop mid-sentence)."""
    return " ".join(doc.strip().split("\n\n")[0].split())


def parser(prog, description, epilog=EPILOG):
    """prog: the command as a user runs it (`python -m finetune_lm.sample`)."""
    return Parser(prog=prog, description=description, epilog=epilog,
                  formatter_class=_HelpFormatter)


# -- flag groups ---------------------------------------------------------------------------

def add_size(p, n_ctx=512, from_weights=False, from_folder=False):
    """Model size. from_weights: the sizes default to the weights' own (sample,
    perplexity); from_folder: to the --params_dir folder's, GPT-1's without weights
    (train.py resolves them)."""
    g = p.add_argument_group("model size")
    if from_folder:
        for flag, gpt1, what in (("--n_ctx", 512, "most tokens per input (capped at the weights' "
                                                  "positions)"),
                                 ("--n_embd", 768, "model width"), ("--n_head", 12, "attention heads"),
                                 ("--n_layer", 12, "transformer blocks")):
            g.add_argument(flag, type=int, default=None,
                           help="%s (default: the weights' own, from --params_dir; %d without "
                                "weights)" % (what, gpt1))
        g.add_argument("--afn", type=str, default="gelu",
                       help="activation of the MLPs: gelu, relu or swish")
        return g
    if from_weights:
        g.add_argument("--n_layer", type=int, default=None,
                       help="transformer blocks (default: from the weights)")
        g.add_argument("--n_embd", type=int, default=None, help="model width (default: from the weights)")
        g.add_argument("--n_head", type=int, default=None,
                       help="attention heads (default: the folder's manifest.json, else 12)")
        g.add_argument("--afn", type=str, default=None,
                       help="activation of the MLPs (default: the manifest's, else gelu)")
        return g
    g.add_argument("--n_ctx", type=int, default=n_ctx, help="most tokens per input")
    g.add_argument("--n_embd", type=int, default=768, help="model width")
    g.add_argument("--n_head", type=int, default=12, help="attention heads (must divide --n_embd)")
    g.add_argument("--n_layer", type=int, default=12, help="transformer blocks")
    g.add_argument("--afn", type=str, default="gelu",
                   help="activation of the MLPs: gelu, relu or swish")
    return g


def add_dropout(p, clf=True):
    g = p.add_argument_group("dropout")
    g.add_argument("--embd_pdrop", type=float, default=0.1, help="dropout of the embeddings")
    g.add_argument("--attn_pdrop", type=float, default=0.1, help="dropout of the attention weights")
    g.add_argument("--resid_pdrop", type=float, default=0.1, help="dropout of the residual branches")
    if clf:
        g.add_argument("--clf_pdrop", type=float, default=0.1, help="dropout before the classifier")
    return g


def add_optimizer(p, lr=6.25e-5, lr_schedule="warmup_linear", warmup_updates=False):
    """Adam with the original's schedules and decoupled L2. warmup_updates: the warmup as a
    number of updates (pre-training) instead of a fraction of them (fine-tuning)."""
    g = p.add_argument_group("optimiser")
    g.add_argument("--lr", type=float, default=lr, help="peak learning rate of Adam")
    if warmup_updates:
        g.add_argument("--lr_warmup_updates", type=int, default=2000,
                       help="linear warmup over this many updates, then --lr_schedule")
    else:
        g.add_argument("--lr_warmup", type=float, default=0.002,
                       help="fraction of the updates over which the learning rate rises from 0 "
                            "(0 < x <= 1)")
    g.add_argument("--lr_schedule", type=str, default=lr_schedule,
                   help="warmup_linear, warmup_cosine or warmup_constant")
    g.add_argument("--b1", type=float, default=0.9, help="Adam's beta1")
    g.add_argument("--b2", type=float, default=0.999, help="Adam's beta2")
    g.add_argument("--e", type=float, default=1e-8, help="Adam's epsilon")
    g.add_argument("--l2", type=float, default=0.01,
                   help="decoupled L2 weight decay of the matrices (not biases or gains)")
    g.add_argument("--vector_l2", action="store_true",
                   help="also decay the vectors (biases, gains)")
    g.add_argument("--max_grad_norm", type=float, default=1,
                   help="clip the gradients' global norm to this (0: no clipping)")
    return g


def add_devices(p, n_batch=8, n_gpu=4, what="examples"):
    g = p.add_argument_group("towers and devices")
    g.add_argument("--n_batch", type=int, default=n_batch, help="%s per tower" % what)
    g.add_argument("--n_gpu", type=int, default=n_gpu,
                   help="towers of --n_batch %s per update, spread over the GPUs (or "
                        "--cpu_devices) present" % what)
    add_execution(g)
    g.add_argument("--cpu_devices", type=int, default=0,
                   help="split the CPU into N logical devices for the towers (no-GPU "
                        "testing; 0: no split)")
    g.add_argument("--compute_dtype", choices=("float32", "bfloat16", "float16"),
                   default="float32",
                   help="type of the matmuls (mixed precision); softmax, layer norm, the "
                        "losses and Adam stay float32")
    return g


def add_execution(g):
    g.add_argument("--xla", dest="xla", action="store_true", default=True,
                   help="compile with XLA (the default)")
    g.add_argument("--no_xla", dest="xla", action="store_false",
                   help="run as a plain TF graph (the same numbers up to round-off, slower)")


def add_vocabulary(p, params_help="folder of the GPT-1 weights and vocabulary (python -m "
                                  "finetune_lm.download)"):
    g = p.add_argument_group("weights and vocabulary")
    g.add_argument("--params_dir", type=str, default="params/", help=params_help)
    g.add_argument("--encoder_path", type=str, default=None,
                   help="BPE encoder (default: <params_dir>/encoder_bpe_40000.json)")
    g.add_argument("--bpe_path", type=str, default=None,
                   help="BPE merges (default: <params_dir>/vocab_40000.bpe)")
    return g


def add_run(p, n_iter=3, save_every=0, cache_dir=os.path.join("datasets", ".cache")):
    """The run's name, outputs, epochs, checkpoints and seed."""
    g = p.add_argument_group("the run")
    g.add_argument("--desc", type=str, default=None,
                   help="run name: of the log, checkpoint and outputs")
    g.add_argument("--log_dir", type=str, default="log/",
                   help="folder of <desc>.jsonl, the run's log, and its TensorBoard events")
    g.add_argument("--save_dir", type=str, default="save/",
                   help="folder of <desc>/: the checkpoint and the run's outputs")
    g.add_argument("--seed", type=int, default=42, help="seed of every random draw (0 .. 2**32 - 1)")
    g.add_argument("--n_iter", type=int, default=n_iter, help="epochs")
    g.add_argument("--save_every", type=int, default=save_every,
                   help="also checkpoint every N updates (0: at epoch ends only)")
    g.add_argument("--cache_dir", type=str, default=cache_dir,
                   help="folder of the encoded inputs, reused by any run on the same texts and "
                        "vocabulary ('' to encode every time)")
    return g


EXPORT_PROG = "python -m finetune_lm.export"


def export_parser(description=None):
    """The export command's parser (the Python API's export_model reads its flags by name
    with it)."""
    from finetune_lm.training.exports import FORMATS
    p = parser(EXPORT_PROG, description)
    p.add_argument("--run", type=str, default=None,
                   help="a run's folder, save_dir/<desc>/ (best_params.jl, model.json)")
    p.add_argument("--params_dir", type=str, default=None,
                   help="pre-trained weights in the released format instead of a run")
    p.add_argument("--unverified_weights", action="store_true",
                   help="with --params_dir: load weights that are not the release unchecked")
    p.add_argument("--to", choices=FORMATS, required=True)
    p.add_argument("out", help="the folder to write (a previous export there is replaced "
                               "whole; any other folder is refused)")
    p.add_argument("--encoder_path", type=str, default=None,
                   help="default: the run's vocabulary, else <params_dir>'s")
    p.add_argument("--bpe_path", type=str, default=None)
    return p


TRAIN_PROG = "python train.py"


def fine_tuning_parser(description=None):
    """train.py's parser (the Python API's fine_tune reads its flags by name with it)."""
    return add_fine_tuning(parser(TRAIN_PROG, description))


def add_fine_tuning(p):
    """The flags of a fine-tuning run (train.py, reproduce.py): the task and its outputs,
    the run, the model, dropout, the optimiser, the devices, the weights."""
    tasks = dataset_names()
    g = p.add_argument_group("the task and its outputs")
    g.add_argument("--dataset", type=str, default=None,
                   help="task to fine-tune on (required): %s" % ", ".join(tasks))
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
    add_task_flags(p)
    add_run(p)
    add_size(p, from_folder=True)
    add_dropout(p)
    add_optimizer(p)
    add_devices(p)
    add_vocabulary(p, "folder of the GPT-1 weights and vocabulary (python -m "
                            "finetune_lm.download), verified against the release's ids or "
                            "the folder's own manifest.json; or a Hugging Face GPT-1 folder "
                            "(model.safetensors, vocab.json, merges.txt)")
    return p


def add_model_flags(p):
    """The weights the language-model tools read (sample, perplexity)."""
    g = add_vocabulary(p, "a folder in the released format: the release, or the output "
                          "of finetune_lm.pretrain (also where the vocabulary is read); or a "
                          "Hugging Face GPT-1 folder (model.safetensors)")
    g.add_argument("--checkpoint", type=str, default=None,
                   help="a train.py best_params.jl instead of --params_dir's weights")
    add_size(p, from_weights=True)
    add_execution(p.add_argument_group("execution"))


def load_model(args):
    """(text encoder, training/model.Model) from the model flags (sample, perplexity)."""
    from finetune_lm.data.text import TextEncoder  # spaCy: only when run
    from finetune_lm.training.model import Model
    check(args, names=("afn",))
    vocabulary_paths(args)  # a Hugging Face folder's vocab.json / merges.txt
    encoder = TextEncoder(args.encoder_path, args.bpe_path)
    sizes = dict(n_layer=args.n_layer, n_embd=args.n_embd, n_head=args.n_head, afn=args.afn)
    model = Model.load_lm(args.checkpoint or args.params_dir, args.params_dir,
                          args.encoder_path, args.bpe_path,
                          xla=bool(getattr(args, "xla", True)), **sizes)
    return encoder, model
