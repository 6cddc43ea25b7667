"""The checks of a run's settings and the one function from them to HParams, shared by
every command (flags.py declares the flags) and by the library code that runs a job.
No TensorFlow is imported here, so that a bad value answers before it starts: the
activation and schedule names come from model/hparams.py (a test keeps them equal to
model/ops.py's ACT_FNS and training/opt.py's SCHEDULES)."""

import dataclasses
import math
import os

from finetune_lm.lm import hf
from finetune_lm.model import release
from finetune_lm.model.hparams import ACTIVATIONS, SCHEDULES, HParams
from finetune_lm.util.errors import UserError

def _positive(v):
    return v >= 1


def _rate(v):
    return 0 <= v < 1


# flag -> (test, what was expected). Applied to every flag a command has (None: a value
# computed later, not checked here).
CHECKS = {
    "n_iter": (_positive, "a positive integer"),
    "n_batch": (_positive, "a positive integer"),
    "n_gpu": (_positive, "a positive integer"),
    "n_layer": (_positive, "a positive integer"),
    "n_head": (_positive, "a positive integer"),
    "n_embd": (_positive, "a positive integer"),
    "n_vocab": (_positive, "a positive integer"),
    "steps": (_positive, "a positive integer"),
    "warmup": (lambda v: v >= 0, "0 or more untimed steps"),
    "n_batch_eval": (_positive, "a positive integer"),
    "save_every": (lambda v: v >= 0, "0 (epoch ends only) or a positive number of updates"),
    "eval_every": (lambda v: v >= 0, "0 (epoch ends only) or a positive number of updates"),
    "workers": (lambda v: v >= 0, "0 (one a core) or a number of processes"),
    "cpu_devices": (lambda v: v >= 0, "0 (no split) or a number of logical CPU devices"),
    "seed": (lambda v: 0 <= v <= 2 ** 32 - 1,
             "0 .. 2**32 - 1 (%d), the seeds numpy's generator takes" % (2 ** 32 - 1)),
    "lr": (lambda v: v > 0, "a positive learning rate"),
    "lr_warmup": (lambda v: 0 < v <= 1, "the fraction of the updates spent warming up, in (0, 1]"),
    "lr_warmup_updates": (_positive, "at least 1 (the schedule divides by it)"),
    "lm_coef": (lambda v: v >= 0, "a weight of 0 (no LM loss) or more"),
    "max_grad_norm": (lambda v: v >= 0, "0 (no clipping) or a positive norm"),
    "l2": (lambda v: v >= 0, "0 (no weight decay) or more"),
    "b1": (lambda v: 0 <= v < 1, "0 <= b1 < 1"),
    "b2": (lambda v: 0 <= v < 1, "0 <= b2 < 1"),
    "e": (lambda v: v > 0, "a small positive number"),
    "embd_pdrop": (_rate, "a dropout rate in [0, 1)"),
    "attn_pdrop": (_rate, "a dropout rate in [0, 1)"),
    "resid_pdrop": (_rate, "a dropout rate in [0, 1)"),
    "clf_pdrop": (_rate, "a dropout rate in [0, 1)"),
    "pdrop": (_rate, "a dropout rate in [0, 1)"),
}


def _known(flag, value, known):
    if value is not None and value not in known:
        raise UserError("%s %r is not known; expected one of: %s"
                        % (flag, value, ", ".join(sorted(known))))


def check(args, names=("afn", "lr_schedule")):
    """Every check of the table on the flags `args` has; the activation and schedule
    names; the width against the heads; the towers against --cpu_devices. Raises
    UserError naming the flag and what was expected."""
    values = vars(args)
    for flag, (ok, expected) in CHECKS.items():
        value = values.get(flag)
        if value is None:
            continue
        # isfinite on floats only: an int of 400 digits does not convert to a float
        if not (ok(value) and (not isinstance(value, float) or math.isfinite(value))):
            raise UserError("--%s %s: expected %s" % (flag, value, expected))
    desc = values.get("desc")
    if desc is not None and (not desc or "/" in desc or os.sep in desc or desc in (".", "..")):
        raise UserError("--desc %r: expected a name (of the run's log, checkpoint and outputs "
                        "inside --log_dir and --save_dir), without '/' and not '..'" % desc)
    known = {"afn": ACTIVATIONS, "lr_schedule": SCHEDULES, "opt": ["adam"]}
    for name in names + (("opt",) if "opt" in values else ()):
        _known("--" + name, values.get(name), known[name])
    if values.get("n_embd") and values.get("n_head") and values["n_embd"] % values["n_head"]:
        raise UserError("--n_embd %d is not divisible by --n_head %d"
                        % (values["n_embd"], values["n_head"]))
    n_gpu, cpu = values.get("n_gpu"), values.get("cpu_devices")
    if n_gpu and cpu and cpu > 1 and n_gpu % cpu:
        divisors = [d for d in range(1, n_gpu + 1) if n_gpu % d == 0]
        raise UserError("--n_gpu %d towers cannot be spread evenly over --cpu_devices %d "
                        "devices: expected --cpu_devices one of %s, or --n_gpu a multiple of %d"
                        % (n_gpu, cpu, ", ".join(map(str, divisors)), cpu))
    return args


def vocabulary_paths(args):
    """--encoder_path and --bpe_path, defaulting to the files in --params_dir (a Hugging
    Face folder's vocab.json / merges.txt)."""
    args.encoder_path = args.encoder_path or hf.vocab_path(args.params_dir, release.ENCODER_FILE)
    args.bpe_path = args.bpe_path or hf.vocab_path(args.params_dir, release.BPE_FILE)
    return args


def hparams(args, **fixed):
    """The one HParams of a run: every flag HParams has a field for, then `fixed` (what
    the data or the weights set: n_vocab, n_ctx, the head, n_updates_total, ...)."""
    fields = {f.name for f in dataclasses.fields(HParams)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    values.update(fixed)
    return HParams(**values)


def check_draw(length, n_samples, temperature, top_k, top_p):
    """The drawing flags (the command's and the Python API's generate)."""
    if length < 1:
        raise UserError("--length %d: expected at least 1 new token" % length)
    if n_samples < 1:
        raise UserError("--n_samples %d: expected at least 1" % n_samples)
    if not temperature > 0:
        raise UserError("--temperature %s: expected a positive number" % temperature)
    if top_k < 0:
        raise UserError("--top_k %d: expected 0 (off) or a positive number" % top_k)
    if not 0 < top_p <= 1:
        raise UserError("--top_p %s: expected a probability in (0, 1]" % top_p)
    if top_k == 0 and top_p == 1:
        raise UserError("--top_k 0 with --top_p 1 turns both filters off; expected --top_k "
                        "of at least 1 (1: greedy) or --top_p below 1")


def check_fits(hp, length, top_k):
    """The drawing flags against the loaded model's sizes."""
    if top_k > hp.n_vocab:
        raise UserError("--top_k %d is more than the %d tokens of the vocabulary; expected at "
                        "most %d (1: greedy)" % (top_k, hp.n_vocab, hp.n_vocab))
    if length > hp.n_ctx:
        raise UserError("--length %d is past the model's %d positions; expected at most %d"
                        % (length, hp.n_ctx, hp.n_ctx))
