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
import time

import numpy as np

from . import release
from .errors import UserError

OUT_OF_FIRST_EPOCH_EVALS = (1000, 2000, 4000, 8000, 16000, 32000)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # The original's flags, defaults and meanings.
    p.add_argument("--desc", type=str, default=None, help="run name (default: --dataset)")
    p.add_argument("--dataset", type=str, default=None, help="task name, e.g. rocstories")
    p.add_argument("--log_dir", type=str, default="log/")
    p.add_argument("--save_dir", type=str, default="save/")
    p.add_argument("--data_dir", type=str, default=None,
                   help="folder of the task's files (default: datasets/<dataset>/)")
    p.add_argument("--submission_dir", type=str, default="submission/")
    p.add_argument("--submit", action="store_true")
    p.add_argument("--analysis", action="store_true")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--n_iter", type=int, default=3)
    p.add_argument("--n_batch", type=int, default=8)
    p.add_argument("--max_grad_norm", type=int, default=1)
    p.add_argument("--lr", type=float, default=6.25e-5)
    p.add_argument("--lr_warmup", type=float, default=0.002)
    p.add_argument("--n_ctx", type=int, default=512)
    p.add_argument("--n_embd", type=int, default=768)
    p.add_argument("--n_head", type=int, default=12)
    p.add_argument("--n_layer", type=int, default=12)
    p.add_argument("--embd_pdrop", type=float, default=0.1)
    p.add_argument("--attn_pdrop", type=float, default=0.1)
    p.add_argument("--resid_pdrop", type=float, default=0.1)
    p.add_argument("--clf_pdrop", type=float, default=0.1)
    p.add_argument("--l2", type=float, default=0.01)
    p.add_argument("--vector_l2", action="store_true")
    p.add_argument("--n_gpu", type=int, default=4, help="towers of --n_batch examples per update")
    p.add_argument("--opt", type=str, default="adam")
    p.add_argument("--afn", type=str, default="gelu")
    p.add_argument("--lr_schedule", type=str, default="warmup_linear")
    p.add_argument("--encoder_path", type=str, default=None,
                   help="default: <params_dir>/encoder_bpe_40000.json")
    p.add_argument("--bpe_path", type=str, default=None,
                   help="default: <params_dir>/vocab_40000.bpe")
    p.add_argument("--n_transfer", type=int, default=12)
    p.add_argument("--lm_coef", type=float, default=0.5)
    p.add_argument("--b1", type=float, default=0.9)
    p.add_argument("--b2", type=float, default=0.999)
    p.add_argument("--e", type=float, default=1e-8)
    # Added here.
    p.add_argument("--params_dir", type=str, default="params/",
                   help="folder of the released GPT-1 files (python -m finetune_lm.download)")
    p.add_argument("--cpu_devices", type=int, default=0,
                   help="split the CPU into N logical devices for the towers (no-GPU testing)")
    p.add_argument("--xla", dest="xla", action="store_true", default=True,
                   help="compile the update with XLA (the default)")
    p.add_argument("--no_xla", dest="xla", action="store_false",
                   help="run the update as a plain TF graph (the same numbers, slower)")
    p.add_argument("--compute_dtype", choices=("float32", "bfloat16", "float16"),
                   default="float32",
                   help="type of the matmuls (mixed precision on a GPU); softmax, layer "
                        "norm, the losses and Adam stay float32")
    p.add_argument("--save_every", type=int, default=0,
                   help="also checkpoint every N updates (default 0: at epoch ends only; a "
                        "full-size checkpoint is about 1.4 GB: parameters, Adam m and v)")
    return p


def check_args(args):
    from .datasets import TASKS
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
    args.desc = args.desc or args.dataset
    args.data_dir = args.data_dir or os.path.join("datasets", args.dataset)
    args.encoder_path = args.encoder_path or os.path.join(args.params_dir, release.ENCODER_FILE)
    args.bpe_path = args.bpe_path or os.path.join(args.params_dir, release.BPE_FILE)
    if args.n_transfer != -1:
        # Fail before the slow encoding when weights are missing.
        from .download import missing_files
        missing = missing_files(args.params_dir)
        if missing:
            raise UserError("%s is incomplete, missing %s: run `%s --dest %s`"
                            % (args.params_dir, ", ".join(missing), release.DOWNLOAD_COMMAND,
                               args.params_dir))
    return args


class ResultLogger:
    """JSON lines: the run's arguments first, then one line per evaluation.

    The whole file is rewritten atomically at each line (a handful of lines per run),
    so a kill leaves the previous complete log. A resumed run passes the lines its
    checkpoint recorded (`lines`) and the log goes on from them."""

    def __init__(self, path, lines=None, write=True, **kwargs):
        self.path, self.write = path, write
        self.lines = list(lines or [])
        if self.lines:
            self._flush()
        else:
            self.log(**kwargs)

    def log(self, **kwargs):
        kwargs.setdefault("time", time.time())
        self.lines.append(json.dumps(kwargs))
        self._flush()

    def _flush(self):
        if self.write:
            from .checkpoint import atomic_write
            atomic_write(self.path, "".join(line + "\n" for line in self.lines))


def iter_batches(n, n_batch, truncate):
    end = (n // n_batch) * n_batch if truncate else n
    for i in range(0, end, n_batch):
        yield slice(i, min(i + n_batch, n))


def epoch_order(n):
    """This epoch's order of the training set, from the global numpy generator.

    The permutation sklearn.utils.shuffle(..., random_state=np.random) made in the
    original (newer scikit-learn refuses the module itself as random_state)."""
    idx = np.arange(n)
    np.random.shuffle(idx)
    return idx


def prepare(args, verbose=True, cache=None):
    """Read and encode the task; returns (hp, data) with data the model inputs per split.

    `cache` (a dict) keeps the encoded inputs between runs in one process that differ
    only in flags the encoding does not read (finetune_lm.reproduce: the seed)."""
    from .hparams import HParams

    key = (args.dataset, os.path.abspath(args.data_dir), os.path.abspath(args.encoder_path),
           os.path.abspath(args.bpe_path), args.n_ctx)
    if cache is not None and key in cache:
        n_vocab, n_ctx, clf_token, data = cache[key]
    else:
        n_vocab, n_ctx, clf_token, data = _encode(args, verbose)
        if cache is not None:
            cache[key] = (n_vocab, n_ctx, clf_token, data)
    n_special = 3
    n_train = len(data["train"][2])
    hp = HParams(
        n_vocab=n_vocab, n_special=n_special, n_ctx=n_ctx, n_embd=args.n_embd,
        n_head=args.n_head, n_layer=args.n_layer, embd_pdrop=args.embd_pdrop,
        attn_pdrop=args.attn_pdrop, resid_pdrop=args.resid_pdrop, clf_pdrop=args.clf_pdrop,
        afn=args.afn, clf_token=clf_token, lm_coef=args.lm_coef, lr=args.lr,
        lr_warmup=args.lr_warmup, lr_schedule=args.lr_schedule, b1=args.b1, b2=args.b2,
        e=args.e, l2=args.l2, vector_l2=args.vector_l2, max_grad_norm=args.max_grad_norm,
        n_updates_total=max(1, (n_train // (args.n_batch * args.n_gpu)) * args.n_iter),
        n_batch=args.n_batch, n_gpu=args.n_gpu, seed=args.seed, xla=args.xla,
        compute_dtype=args.compute_dtype)
    return hp, data


def _encode(args, verbose):
    from .datasets import get_task, n_ctx_for, transform_roc
    from .text import TextEncoder, add_special_tokens

    loader, _ = get_task(args.dataset)
    text_encoder = TextEncoder(args.encoder_path, args.bpe_path)
    encoder = text_encoder.encoder
    n_vocab = len(encoder)
    splits = loader(args.data_dir)
    encoded = [[text_encoder.encode(f, verbose=verbose) for f in split[:3]] + [split[3]]
               for split in splits]
    start, delimiter, clf_token = add_special_tokens(encoder)
    n_special = 3
    max_len = args.n_ctx // 2 - 2
    n_ctx = n_ctx_for([zip(*s[:3]) for s in encoded], args.n_ctx)
    data = {}
    for name, (x1, x2, x3, y) in zip(("train", "valid", "test"), encoded):
        X, M = transform_roc(x1, x2, x3, n_ctx, max_len, start, delimiter, clf_token,
                             n_vocab + n_special)
        data[name] = (X, M, np.asarray(y, np.int32))
    return n_vocab, n_ctx, clf_token, data


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
    from .datasets import get_task
    run_dir = os.path.join(args.save_dir, args.desc)
    return {
        "log": os.path.join(args.log_dir, "%s.jsonl" % args.desc),
        "tensorboard": os.path.join(args.log_dir, args.desc),
        "run_dir": run_dir,
        "best": os.path.join(run_dir, "best_params.jl"),
        "checkpoint": os.path.join(run_dir, "checkpoint"),
        "submission": os.path.join(args.submission_dir, get_task(args.dataset)[1]),
    }


def _finished(args, paths, pointer):
    """A run whose checkpoint says it finished: no training, the analysis again."""
    from . import analysis
    print("%s: run %r already finished (%d updates; %s); not retraining"
          % ("resume", args.desc, pointer["n_updates"], paths["checkpoint"]))
    result = {"best_valid": pointer["best"], "n_updates": pointer["n_updates"],
              "already_finished": True}
    if args.submit and args.analysis:
        if not os.path.isfile(paths["submission"]):
            raise UserError("run %r finished but %s is missing; delete %s to train again"
                            % (args.desc, paths["submission"], paths["checkpoint"]))
        va, te = analysis.ANALYSES[args.dataset](args.data_dir, paths["submission"], paths["log"])
        result.update(valid_accuracy=va, test_accuracy=te)
    return result


def _progress(iterable, **kwargs):
    from tqdm import tqdm
    return tqdm(iterable, ncols=80, leave=False, file=sys.stderr, **kwargs)


def run(args, cache=None):
    """The whole fine-tuning job; returns a dict of the final figures.

    Resumes from `save_dir/<desc>/checkpoint/` when it exists (same arguments
    required), and does nothing but the analysis when that run already finished."""
    import tensorflow as tf

    from . import analysis, malloc, towers, weights
    from .checkpoint import (RunCheckpoint, check_same_args, rng_state, save_params,
                             scalar_summary, set_rng_state)

    print(args)
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
    trX, trM, trY = data["train"]
    vaX, vaM, vaY = data["valid"]
    teX, teM, _ = data["test"]
    n_valid = len(vaY)

    init = weights.transfer_arrays(args.params_dir, hp, args.n_transfer)
    strategy = towers.make_strategy(hp.n_gpu)
    state = towers.TrainState(strategy, hp, init)
    del init
    train_step = towers.mgpu_train(state)
    predict = towers.mgpu_predict(state)
    chief = towers.is_chief(strategy)
    ckpt = RunCheckpoint(paths["checkpoint"], state)

    # Where training starts: the beginning, or the last checkpoint.
    n_updates, first_epoch, first_batch, order, best = 0, 0, 0, None, 0.0
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
        logger = ResultLogger(paths["log"], lines=meta["log"], write=chief)
    else:
        logger = ResultLogger(paths["log"], write=chief, **vars(args))
    writer = tf.summary.create_file_writer(paths["tensorboard"]) if chief else None

    def save_best():
        if chief:
            save_params(paths["best"], state.get_params())

    def evaluate(X, M, Y, what):
        n = hp.n_batch_train  # mgpu_predict's own batches: the same numbers, with progress
        logits, losses = [], []
        for i in _progress(range(0, len(X), n), desc=what):
            lg, ls = predict(X[i:i + n], M[i:i + n], None if Y is None else Y[i:i + n])
            logits.append(lg)
            losses.append(ls)
        logits, losses = np.concatenate(logits, 0), np.concatenate(losses, 0)
        if Y is None:
            return logits
        return float(np.sum(losses)) / len(Y), float(np.mean(np.argmax(logits, 1) == Y) * 100.)

    def log(n_epochs, n_updates):
        nonlocal best
        tr_cost, tr_acc = evaluate(trX[:n_valid], trM[:n_valid], trY[:n_valid], "eval train")
        va_cost, va_acc = evaluate(vaX, vaM, vaY, "eval valid")
        logger.log(n_epochs=n_epochs, n_updates=n_updates, tr_cost=tr_cost, va_cost=va_cost,
                   tr_acc=tr_acc, va_acc=va_acc)
        if writer is not None:
            with writer.as_default(step=n_updates):
                scalar_summary("train/cost", tr_cost)
                scalar_summary("valid/cost", va_cost)
                scalar_summary("train/accuracy", tr_acc)
                scalar_summary("valid/accuracy", va_acc)
            writer.flush()
        print("%d %d %.3f %.3f %.2f %.2f" % (n_epochs, n_updates, tr_cost, va_cost, tr_acc, va_acc))
        if args.submit and va_acc > best:
            best = va_acc
            save_best()

    last_saved = [n_updates if restored is not None else None]

    def checkpoint(epoch, batch, order):
        if chief:
            ckpt.save({"args": current_args, "n_updates": n_updates, "epoch": epoch,
                       "batch": batch, "order": None if order is None else order.tolist(),
                       "rng": rng_state(), "best": best, "log": logger.lines})
        last_saved[0] = n_updates

    if restored is None and args.submit:
        save_best()
    try:
        for n_epochs in range(first_epoch, args.n_iter):
            if order is None:
                order = epoch_order(len(trY))
            X, M, Y = trX[order], trM[order], trY[order]
            batches = list(iter_batches(len(Y), hp.n_batch_train, truncate=True))
            for i in _progress(range(first_batch, len(batches)), initial=first_batch,
                               total=len(batches), desc="epoch %d" % (n_epochs + 1)):
                rows = batches[i]
                _, clf_losses, grad_norm, lr = train_step(X[rows], M[rows], Y[rows])
                n_updates += 1
                check_finite(n_updates, clf_losses, grad_norm, paths["checkpoint"], last_saved[0])
                if writer is not None:
                    with writer.as_default(step=n_updates):
                        scalar_summary("learning_rate", float(lr))
                        scalar_summary("grad_norm", float(grad_norm))
                if n_updates in OUT_OF_FIRST_EPOCH_EVALS and n_epochs == 0:
                    log(n_epochs, n_updates)
                if args.save_every and n_updates % args.save_every == 0 and i + 1 < len(batches):
                    checkpoint(n_epochs, i + 1, order)
            first_batch, order = 0, None
            log(n_epochs + 1, n_updates)
            checkpoint(n_epochs + 1, 0, None)
    finally:
        if writer is not None:
            writer.close()

    result = {"best_valid": best, "n_updates": n_updates}
    if args.submit:
        state.set_params(weights.load_params(paths["best"], state.params_shapes()))
        predictions = np.argmax(evaluate(teX, teM, None, "predict test"), 1)
        path = paths["submission"]
        if chief:
            from .checkpoint import atomic_open
            with atomic_open(path, "w") as f:
                f.write("index\tprediction\n")
                for i, prediction in enumerate(predictions):
                    f.write("%d\t%d\n" % (i, prediction))
        if args.analysis and chief:
            va, te = analysis.ANALYSES[args.dataset](args.data_dir, path, paths["log"])
            result.update(valid_accuracy=va, test_accuracy=te)
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
    args = build_parser().parse_args(argv)
    try:
        check_args(args)
        run(args)
    except UserError as err:
        print("error: %s" % err, file=sys.stderr)
        return 2
    return 0
