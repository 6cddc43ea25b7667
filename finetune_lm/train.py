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
  next batch, the log so far; see finetune_lm/checkpoint.py). The same command
  started again goes on from there and ends with what an uninterrupted run gives;
  other arguments are refused (naming the flags); a finished run is not retrained.
  Delete that folder to start over.
- Every file is written to a temporary file and renamed over the old one.
- A NaN or infinite loss or gradient norm stops the run (`error: ...`, exit 2),
  naming the update and keeping the last good checkpoint.
- TensorBoard scalars in `log_dir/<desc>/`: learning_rate and grad_norm per update,
  train/valid cost and accuracy per evaluation.
"""

import argparse
import json
import os
import random
import sys

import numpy as np

from . import release
from .errors import UserError
from .task_download import data_source, missing_data

class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default after its meaning; on/off switches and the options whose
    default is computed (None) say it in words."""

    def _get_help_string(self, action):
        if action.nargs == 0 or action.default is None:
            return action.help
        return super()._get_help_string(action)


EPILOG = ("Bad input stops with one `error:` line and exit status 2; Ctrl-C stops with one "
          "line naming the checkpoint that the same command resumes from. TensorFlow's own "
          "start-up logs are hidden: set TF_CPP_MIN_LOG_LEVEL (e.g. TF_CPP_MIN_LOG_LEVEL=0) "
          "to see them.")


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=EPILOG,
                                formatter_class=_HelpFormatter)
    # The original's flags, defaults and meanings.
    p.add_argument("--desc", type=str, default=None,
                   help="run name: of the log, checkpoint and best_params.jl (None: --dataset)")
    p.add_argument("--dataset", type=str, default=None,
                   help="task to fine-tune on, e.g. rocstories (required)")
    p.add_argument("--log_dir", type=str, default="log/",
                   help="folder of <desc>.jsonl, the run's log, and its TensorBoard events")
    p.add_argument("--save_dir", type=str, default="save/",
                   help="folder of <desc>/: the checkpoint and best_params.jl")
    p.add_argument("--data_dir", type=str, default=None,
                   help="folder of the task's files (None: datasets/<task>/)")
    p.add_argument("--submission_dir", type=str, default="submission/",
                   help="folder of the test predictions that --submit writes")
    p.add_argument("--submit", action="store_true",
                   help="keep the best parameters (best_params.jl) and predict the test set")
    p.add_argument("--analysis", action="store_true",
                   help="print the best valid and the test scores (needs --submit)")
    p.add_argument("--seed", type=int, default=42,
                   help="seed of every random draw (0 .. 2**32 - 1)")
    p.add_argument("--n_iter", type=int, default=3, help="epochs")
    p.add_argument("--n_batch", type=int, default=8, help="examples per tower")
    p.add_argument("--max_grad_norm", type=float, default=1,
                   help="clip the gradients' global norm to this (0: no clipping)")
    p.add_argument("--lr", type=float, default=6.25e-5, help="peak learning rate of Adam")
    p.add_argument("--lr_warmup", type=float, default=0.002,
                   help="fraction of the updates over which the learning rate rises from 0 "
                        "(0 < x <= 1)")
    p.add_argument("--n_ctx", type=int, default=512,
                   help="most tokens per input; the data may fix a shorter context")
    p.add_argument("--n_embd", type=int, default=768, help="model width")
    p.add_argument("--n_head", type=int, default=12,
                   help="attention heads (must divide --n_embd)")
    p.add_argument("--n_layer", type=int, default=12, help="transformer blocks")
    p.add_argument("--embd_pdrop", type=float, default=0.1, help="dropout of the embeddings")
    p.add_argument("--attn_pdrop", type=float, default=0.1,
                   help="dropout of the attention weights")
    p.add_argument("--resid_pdrop", type=float, default=0.1,
                   help="dropout of the residual branches")
    p.add_argument("--clf_pdrop", type=float, default=0.1,
                   help="dropout before the classifier")
    p.add_argument("--l2", type=float, default=0.01,
                   help="decoupled L2 weight decay of the matrices")
    p.add_argument("--vector_l2", action="store_true",
                   help="also decay the vectors (biases, gains)")
    p.add_argument("--n_gpu", type=int, default=4,
                   help="towers of --n_batch examples per update, spread over the GPUs (or "
                        "--cpu_devices) present")
    p.add_argument("--opt", type=str, default="adam", help="optimiser (adam only)")
    p.add_argument("--afn", type=str, default="gelu",
                   help="activation of the MLPs: gelu, relu or swish")
    p.add_argument("--lr_schedule", type=str, default="warmup_linear",
                   help="warmup_linear, warmup_cosine or warmup_constant")
    p.add_argument("--encoder_path", type=str, default=None,
                   help="BPE encoder (None: <params_dir>/encoder_bpe_40000.json)")
    p.add_argument("--bpe_path", type=str, default=None,
                   help="BPE merges (None: <params_dir>/vocab_40000.bpe)")
    p.add_argument("--n_transfer", type=int, default=12,
                   help="layers loaded from --params_dir (-1: load nothing, train from "
                        "scratch; needs only the two vocabulary files)")
    p.add_argument("--lm_coef", type=float, default=0.5,
                   help="weight of the language-model loss beside the task's (>= 0)")
    p.add_argument("--b1", type=float, default=0.9, help="Adam's beta1")
    p.add_argument("--b2", type=float, default=0.999, help="Adam's beta2")
    p.add_argument("--e", type=float, default=1e-8, help="Adam's epsilon")
    # Added here.
    p.add_argument("--params_dir", type=str, default="params/",
                   help="folder of the GPT-1 weights and vocabulary (python -m "
                        "finetune_lm.download), verified against the release's ids or the "
                        "folder's own manifest.json")
    p.add_argument("--unverified_weights", action="store_true",
                   help="load weights in the released format that are not the release "
                        "(converted, re-saved) without checking them; prints a warning")
    p.add_argument("--cpu_devices", type=int, default=0,
                   help="split the CPU into N logical devices for the towers (no-GPU "
                        "testing; 0: no split)")
    p.add_argument("--xla", dest="xla", action="store_true", default=True,
                   help="compile the update with XLA (the default)")
    p.add_argument("--no_xla", dest="xla", action="store_false",
                   help="run the update as a plain TF graph (the same numbers, slower)")
    p.add_argument("--compute_dtype", choices=("float32", "bfloat16", "float16"),
                   default="float32",
                   help="type of the matmuls (mixed precision on a GPU); softmax, layer "
                        "norm, the losses and Adam stay float32")
    p.add_argument("--cache_dir", type=str, default=os.path.join("datasets", ".cache"),
                   help="folder of the encoded inputs, reused by any run on the same texts "
                        "and vocabulary ('' to encode every time)")
    p.add_argument("--save_every", type=int, default=0,
                   help="also checkpoint every N updates (0: at epoch ends only; a "
                        "full-size checkpoint is about 1.4 GB: parameters, Adam m and v)")
    return p


def check_args(args):
    from .tasks import all_tasks
    TASKS = all_tasks()
    from .model import ACT_FNS
    from .opt import SCHEDULES
    if args.dataset is None:
        raise UserError("--dataset is required; expected one of: %s" % ", ".join(sorted(TASKS)))
    for flag, value, known in (("--opt", args.opt, ["adam"]), ("--afn", args.afn, ACT_FNS),
                               ("--lr_schedule", args.lr_schedule, SCHEDULES),
                               ("--dataset", args.dataset, TASKS)):
        if value not in known:
            raise UserError("%s %r is not known; expected one of: %s"
                            % (flag, value, ", ".join(sorted(known))))
    if args.n_embd % args.n_head:
        raise UserError("--n_embd %d is not divisible by --n_head %d" % (args.n_embd, args.n_head))
    for flag in ("n_batch", "n_gpu", "n_layer", "n_head", "n_iter"):
        if getattr(args, flag) < 1:
            raise UserError("--%s %d: expected a positive integer" % (flag, getattr(args, flag)))
    if args.save_every < 0:
        raise UserError("--save_every %d: expected 0 (epoch ends only) or a positive number "
                        "of updates" % args.save_every)
    if args.n_ctx < 8:
        raise UserError("--n_ctx %d: expected at least 8" % args.n_ctx)
    if args.n_transfer < -1 or args.n_transfer > args.n_layer:
        raise UserError("--n_transfer %d: expected -1 (load nothing) or 0..--n_layer (%d)"
                        % (args.n_transfer, args.n_layer))
    if args.n_transfer != -1 and args.n_ctx > release.N_POSITIONS:
        raise UserError("--n_ctx %d is more than the %d positions of the released weights "
                        "(use --n_transfer -1 to train from scratch)" % (args.n_ctx, release.N_POSITIONS))
    if not 0 <= args.seed <= 2 ** 32 - 1:
        raise UserError("--seed %d: expected 0 .. 2**32 - 1 (%d), the seeds numpy's generator "
                        "takes" % (args.seed, 2 ** 32 - 1))
    import math
    for flag, ok, expected in (
            ("lr", args.lr > 0, "a positive learning rate"),
            ("lr_warmup", 0 < args.lr_warmup <= 1,
             "the fraction of the updates spent warming up, in (0, 1]"),
            ("lm_coef", args.lm_coef >= 0, "a weight of 0 (no LM loss) or more"),
            ("max_grad_norm", args.max_grad_norm >= 0, "0 (no clipping) or a positive norm"),
            ("l2", args.l2 >= 0, "0 (no weight decay) or more"),
            ("b1", 0 <= args.b1 < 1, "0 <= b1 < 1"), ("b2", 0 <= args.b2 < 1, "0 <= b2 < 1"),
            ("e", args.e > 0, "a small positive number"),
            ("embd_pdrop", 0 <= args.embd_pdrop < 1, "a dropout rate in [0, 1)"),
            ("attn_pdrop", 0 <= args.attn_pdrop < 1, "a dropout rate in [0, 1)"),
            ("resid_pdrop", 0 <= args.resid_pdrop < 1, "a dropout rate in [0, 1)"),
            ("clf_pdrop", 0 <= args.clf_pdrop < 1, "a dropout rate in [0, 1)")):
        value = getattr(args, flag)
        if not (ok and math.isfinite(value)):
            raise UserError("--%s %g: expected %s" % (flag, value, expected))
    if args.cpu_devices < 0:
        raise UserError("--cpu_devices %d: expected 0 (no split) or a number of logical CPU "
                        "devices" % args.cpu_devices)
    if args.cpu_devices > 1 and args.n_gpu % args.cpu_devices:
        divisors = [d for d in range(1, args.n_gpu + 1) if args.n_gpu % d == 0]
        raise UserError("--n_gpu %d towers cannot be spread evenly over --cpu_devices %d "
                        "devices: expected --cpu_devices one of %s, or --n_gpu a multiple of %d"
                        % (args.n_gpu, args.cpu_devices, ", ".join(map(str, divisors)),
                           args.cpu_devices))
    if args.analysis and not args.submit:
        raise UserError("--analysis needs --submit: it scores the test predictions that "
                        "--submit writes; add --submit")
    args.desc = args.desc or args.dataset
    args.data_dir = args.data_dir or os.path.join("datasets", TASKS[args.dataset].folder)
    args.encoder_path = args.encoder_path or os.path.join(args.params_dir, release.ENCODER_FILE)
    args.bpe_path = args.bpe_path or os.path.join(args.params_dir, release.BPE_FILE)
    # Before any slow work (encoding, compilation, training): the files the run reads
    # are there, the folders it writes are writable, the weights verify.
    from .checkpoint import check_writable
    from .download import missing_inputs
    if os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        raise UserError("--data_dir %s is a file; expected the folder of the %s files"
                        % (args.data_dir, args.dataset))
    problem = missing_inputs(args.data_dir, data_source(args.dataset, args.data_dir,
                                                        TASKS[args.dataset].source),
                             args.params_dir, args.n_transfer, args.encoder_path, args.bpe_path)
    problem = problem or missing_data(args.dataset, args.data_dir)
    if problem:
        raise UserError(problem)
    check_writable(args.log_dir, "--log_dir")
    check_writable(args.save_dir, "--save_dir")
    if args.submit:
        check_writable(args.submission_dir, "--submission_dir")
    from .weights import verify_params_dir
    verify_params_dir(args.params_dir, args.n_transfer, getattr(args, "unverified_weights", False))
    return args


def prepare(args, verbose=True, cache=None):
    """Read and encode the task; returns (hp, data): data maps each split to its
    inputs.Encoded, hp holds the sizes the data fixes (n_ctx, the vocabulary, the
    head's shape, the number of updates).

    `cache` (a dict) keeps the encoded inputs between runs in one process that differ
    only in flags the encoding does not read (finetune_lm.reproduce: the seed)."""
    from . import inputs
    from .hparams import HParams
    from .tasks import get_task

    task = get_task(args.dataset)
    key = (args.dataset, os.path.abspath(args.data_dir), os.path.abspath(args.encoder_path),
           os.path.abspath(args.bpe_path), args.n_ctx)
    if cache is not None and key in cache:
        n_vocab, n_ctx, specials, data = cache[key]
    else:
        splits = task.load(args.data_dir)
        inputs.check_splits(task, splits, args.data_dir)
        check_batch(args, task, len(splits["train"]))  # before the slow encoding
        n_vocab, n_ctx, specials, data = inputs.prepare_task(
            task, splits, args.encoder_path, args.bpe_path, args.n_ctx,
            cache_dir=getattr(args, "cache_dir", None) or None, verbose=verbose)
        if cache is not None:
            cache[key] = (n_vocab, n_ctx, specials, data)
    n_train = len(data["train"])
    n_per_update = args.n_batch * args.n_gpu
    hp = HParams(
        n_vocab=n_vocab, n_special=len(specials), n_ctx=n_ctx, n_embd=args.n_embd,
        n_head=args.n_head, n_layer=args.n_layer, embd_pdrop=args.embd_pdrop,
        attn_pdrop=args.attn_pdrop, resid_pdrop=args.resid_pdrop, clf_pdrop=args.clf_pdrop,
        afn=args.afn, clf_token=specials[2], head=task.head, n_seq=task.n_seq,
        n_out=task.n_out, soft_targets=task.soft_targets, lm_coef=args.lm_coef, lr=args.lr,
        lr_warmup=args.lr_warmup, lr_schedule=args.lr_schedule, b1=args.b1, b2=args.b2,
        e=args.e, l2=args.l2, vector_l2=args.vector_l2, max_grad_norm=args.max_grad_norm,
        n_updates_total=max(1, (n_train // n_per_update) * args.n_iter),
        n_batch=args.n_batch, n_gpu=args.n_gpu, seed=args.seed, xla=args.xla,
        compute_dtype=args.compute_dtype)
    return hp, data


def check_batch(args, task, n_train):
    """At least one update per epoch."""
    n_per_update = args.n_batch * args.n_gpu
    if n_train < n_per_update:
        raise UserError("--n_batch %d x --n_gpu %d = %d examples per update, but the training "
                        "set of %s has %d: no update would run; expected at most %d"
                        % (args.n_batch, args.n_gpu, n_per_update, task.name, n_train, n_train))


def _split_cpu(towers, n):
    """towers.split_cpu, tolerating a second run in the same process with the same split."""
    import tensorflow as tf
    try:
        towers.split_cpu(n)
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if n > 1 and have != n:
            raise UserError("--cpu_devices %d: this process already split the CPU into %d "
                            "devices" % (n, have)) from None


def args_dict(args):
    """The run's arguments as the log and the checkpoint record them (JSON values)."""
    return json.loads(json.dumps(vars(args)))


def run_paths(args):
    from .tasks import get_task
    run_dir = os.path.join(args.save_dir, args.desc)
    task = get_task(args.dataset)
    return {
        "log": os.path.join(args.log_dir, "%s.jsonl" % args.desc),
        "tensorboard": os.path.join(args.log_dir, args.desc),
        "run_dir": run_dir,
        "best": os.path.join(run_dir, "best_params.jl"),
        "model": os.path.join(run_dir, "model.json"),
        "results": os.path.join(run_dir, "results.json"),
        "checkpoint": os.path.join(run_dir, "checkpoint"),
        "submissions": {s.split: os.path.join(args.submission_dir, s.filename)
                        for s in task.submissions},
    }


def _finished(args, paths, pointer):
    """A run whose checkpoint says it finished: no training, the analysis again."""
    from . import analysis
    from .checkpoint import read_json
    from .tasks import get_task
    task = get_task(args.dataset)
    print("%s: run %r already finished (%d updates; %s); not retraining"
          % ("resume", args.desc, pointer["n_updates"], paths["checkpoint"]))
    result = {"best_valid": pointer["best"], "n_updates": pointer["n_updates"],
              "already_finished": True}
    if args.submit:
        missing = [p for p in paths["submissions"].values() if not os.path.isfile(p)]
        if missing or not os.path.isfile(paths["results"]):
            raise UserError("run %r finished but %s is missing; delete %s to train again"
                            % (args.desc, (missing or [paths["results"]])[0],
                               paths["checkpoint"]))
        saved = read_json(paths["results"])
        if args.analysis:
            analysis.report(task, saved["splits"])
        result.update(saved["figures"])
    return result


def towers_multi_worker():
    from .towers import _multi_worker
    return _multi_worker()


def describe(args, task, hp, strategy, data):
    """The run in a few lines, instead of the original's Namespace dump."""
    n_train = len(data["train"])
    per_epoch = n_train // hp.n_batch_train
    sizes = ", ".join("%s %d" % (name, len(enc)) for name, enc in data.items())
    print("run %r: task %s (%s head, %d sequence%s per example), %s" % (
        args.desc, task.name, task.head, task.n_seq, "s" if task.n_seq > 1 else "", sizes))
    print("model: %d layers, width %d, %d heads, n_ctx %d (longest input; --n_ctx %d), "
          "vocabulary %d + %d; weights: %s" % (
              hp.n_layer, hp.n_embd, hp.n_head, hp.n_ctx, args.n_ctx, hp.n_vocab, hp.n_special,
              "none (--n_transfer -1)" if args.n_transfer == -1 else
              "%s, %d layers" % (args.params_dir, args.n_transfer)))
    import tensorflow as tf
    n_rep = strategy.num_replicas_in_sync
    present = len(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU"))
    # Towers are spread evenly: with --n_gpu 4 on 3 GPUs, 2 of them run 2 towers each.
    unused = (" (%d of the %d devices present: --n_gpu %d towers are spread evenly)"
              % (n_rep, present, hp.n_gpu)) if n_rep < present and n_rep > 0 and not \
        towers_multi_worker() else ""
    print("training: %d epochs x %d updates = %d updates of %d x %d examples, on %d device%s"
          "%s; log %s" % (args.n_iter, per_epoch, hp.n_updates_total, hp.n_gpu, hp.n_batch,
                          n_rep, "s" if n_rep > 1 else "", unused,
                          os.path.join(args.log_dir, args.desc + ".jsonl")))
    main = task.main_metric.name
    print("epoch updates tr_cost va_cost tr_%s va_%s" % (main, main))
    sys.stdout.flush()


def run(args, cache=None):
    """The whole fine-tuning job; returns a dict of the final figures.

    Resumes from `save_dir/<desc>/checkpoint/` when it exists (same arguments
    required), and does nothing but the analysis when that run already finished.
    Wiring only: the loop is finetune_lm/loop.py, the outputs finetune_lm/analysis.py."""
    import tensorflow as tf

    from . import loop, malloc, towers, weights
    from .checkpoint import (RunCheckpoint, atomic_write_json, check_same_args, rng_state,
                             save_params, set_rng_state)
    from .tasks import get_task

    task = get_task(args.dataset)
    paths = run_paths(args)
    current_args = args_dict(args)
    ckpt_where = "the checkpoint %s" % paths["checkpoint"]
    pointer = RunCheckpoint.read_pointer(paths["checkpoint"])
    if pointer is not None:
        # Before the slow encoding: refuse other arguments, skip a finished run.
        check_same_args(pointer["args"], current_args, ckpt_where)
        if pointer["finished"]:
            return _finished(args, paths, pointer)

    _split_cpu(towers, args.cpu_devices)
    random.seed(args.seed)
    np.random.seed(args.seed)
    tf.random.set_seed(args.seed)
    tf.config.experimental.enable_op_determinism()

    hp, data = prepare(args, cache=cache)
    if hp.xla:
        malloc.map_large_blocks()  # large blocks back to the system when freed

    init = weights.transfer_arrays(args.params_dir, hp, args.n_transfer)
    strategy = towers.make_strategy(hp.n_gpu)
    state = towers.TrainState(strategy, hp, init)
    del init
    train_step = towers.mgpu_train(state)
    predict = towers.mgpu_predict(state)
    chief = towers.is_chief(strategy)
    ckpt = RunCheckpoint(paths["checkpoint"], state)
    describe(args, task, hp, strategy, data)
    model_info = {"n_ctx": hp.n_ctx, "n_vocab": hp.n_vocab, "n_special": hp.n_special,
                  "n_embd": hp.n_embd, "n_head": hp.n_head, "n_layer": hp.n_layer,
                  "head": hp.head, "n_seq": hp.n_seq, "n_out": hp.n_out, "task": task.name}

    # Where training starts: the beginning, or the last checkpoint.
    n_updates, first_epoch, first_batch, order, best = 0, 0, 0, None, None
    restored = ckpt.restore()
    if restored is not None:
        pointer, meta = restored
        check_same_args(meta["args"], current_args, ckpt_where)
        n_updates, first_epoch, first_batch = meta["n_updates"], meta["epoch"], meta["batch"]
        order = None if meta["order"] is None else np.asarray(meta["order"], np.int64)
        best = meta["best"]
        set_rng_state(meta["rng"])
        if int(state.t.numpy()) != n_updates:
            raise UserError("%s is inconsistent (update count %d, t %d); delete it to start over"
                            % (paths["checkpoint"], n_updates, int(state.t.numpy())))
        where = ("epoch %d, batch %d" % (first_epoch + 1, first_batch)
                 if first_epoch < args.n_iter else "training done")
        print("resume: run %r from update %d (%s) of %s"
              % (args.desc, n_updates, where, paths["checkpoint"]))
        logger = loop.ResultLogger(paths["log"], lines=meta["log"], write=chief)
    else:
        # The effective n_ctx (fixed by the data) is in the log's first line, and in
        # model.json beside best_params.jl, so the arrays load without guessing it.
        logger = loop.ResultLogger(paths["log"], write=chief, **vars(args),
                                   model=model_info)
    writer = tf.summary.create_file_writer(paths["tensorboard"]) if chief else None

    def save_best():
        if chief and args.submit:
            save_params(paths["best"], state.get_params())
            atomic_write_json(paths["model"], model_info)

    last_saved = [n_updates if restored is not None else None]
    trainer = loop.Trainer(task, hp, data, train_step, predict, logger, writer,
                           on_best=save_best, save_every=args.save_every, best=best,
                           check=lambda n, losses, gnorm: check_finite(
                               n, losses, gnorm, paths["checkpoint"], last_saved[0]))

    def checkpoint(epoch, batch, order):
        if chief:
            ckpt.save({"args": current_args, "n_updates": trainer.n_updates, "epoch": epoch,
                       "batch": batch, "order": None if order is None else order.tolist(),
                       "rng": rng_state(), "best": trainer.best, "log": logger.lines})
        last_saved[0] = trainer.n_updates

    trainer.on_checkpoint = checkpoint
    if restored is None:
        save_best()
    try:
        n_updates = trainer.train(args.n_iter, n_updates, first_epoch, first_batch, order)
    finally:
        if writer is not None:
            writer.close()

    result = {"best_valid": trainer.best, "n_updates": n_updates}
    if args.submit:
        from . import analysis
        state.set_params(weights.load_params(paths["best"], state.params_shapes()))
        predictions = {}  # split -> predictions, each split predicted once
        for split in [s.split for s in task.submissions] + list(task.analysis):
            if split in data and split not in predictions:
                logits, _ = loop.predict_split(predict, data[split], hp,
                                               desc="predict %s" % split)
                predictions[split] = task.predictions(logits)
        for sub in task.submissions:
            # A split absent from data is an optional one the loader said it left out.
            if sub.split in predictions and chief:
                analysis.write_submission(paths["submissions"][sub.split], data[sub.split].index,
                                          task.prediction_strings(predictions[sub.split]))
        splits = {}
        for split in task.analysis:
            enc = data.get(split)
            if enc is not None and enc.labels is not None:
                splits[split] = loop.scores(task, predictions[split], enc.labels, enc.groups)
        valid_best = analysis.best_valid(paths["log"], task.main_metric.name) if chief else None
        splits = dict({"valid": {task.main_metric.name: valid_best}}, **splits)
        figures = analysis.result_figures(task, valid_best, splits)
        if chief:
            atomic_write_json(paths["results"], {"splits": splits, "figures": figures})
            if args.analysis:
                analysis.report(task, splits)
            result.update(figures)
    if chief:
        ckpt.mark_finished()
    return result


def check_finite(n_updates, clf_losses, grad_norm, ckpt_dir, last_saved):
    """Stop at the first update whose loss or gradient norm is NaN or infinite."""
    loss = float(np.mean(clf_losses))
    if np.all(np.isfinite(clf_losses)) and np.isfinite(grad_norm):
        return
    kept = ("the last good checkpoint, update %d, is kept in %s" % (last_saved, ckpt_dir)
            if last_saved is not None else "no checkpoint was saved before it")
    raise UserError("training diverged at update %d: loss %s, gradient norm %s; %s"
                    % (n_updates, loss, float(grad_norm), kept))


def main(argv=None):
    from .checkpoint import interrupted_message
    from .errors import run_command
    args = build_parser().parse_args(argv)

    def job(args):
        check_args(args)
        run(args)

    return run_command(job, args, lambda: interrupted_message(
        os.path.join(args.save_dir, args.desc or args.dataset or "", "checkpoint")))


if __name__ == "__main__":
    sys.exit(main())
