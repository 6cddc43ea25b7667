"""Pre-train GPT-1's language model (paper section 4.1), from scratch or onward from
the released weights, and write it in the released format for train.py.

    python -m finetune_lm.pretrain --corpus PATH... --desc NAME [--init_from params/]
        [--valid_corpus PATH...] [--out DIR] [--n_layer --n_embd --n_head --n_ctx]

The recipe's defaults are the paper's: contiguous windows of 512 tokens (the corpus
encoded once into a token file, finetune_lm.corpus, read by a tf.data pipeline),
64 windows per update (--n_batch 16 x --n_gpu 4 towers), Adam with a maximum lr of
2.5e-4 warmed up linearly over 2000 updates then annealed to 0 on a cosine
(warmup_cosine of finetune_lm.opt), 100 epochs, dropout 0.1 on the embeddings,
attention and residuals, the modified L2 0.01 on every weight that is not a bias or
a gain, GELU, N(0, 0.02) initialisation, the released BPE vocabulary. The loss is
the next-token cross-entropy under the softmax over the vocabulary's rows of the
tied embedding (no special rows exist here; position rows are not candidates).

The run reuses the fine-tuning machinery: towers over GPUs or machines
(finetune_lm.towers.lm_train; TF_CONFIG), dropout seeded by (seed, update, tower),
checkpoints every --save_every updates and at each epoch end in
save_dir/<desc>/checkpoint/ (a killed run started again with the same command goes
on from there and ends with the parameters of an uninterrupted one; other
arguments are refused), a NaN or infinite loss or gradient norm stops the run
naming the update, TensorBoard scalars (loss, perplexity, learning_rate, grad_norm
per update; train and valid loss and perplexity per evaluation) in
log_dir/<desc>/, the evaluations in log_dir/<desc>.jsonl, progress bars with ETA.

At each epoch end the model is written to --out (default save_dir/<desc>/params/) in
the released format with its own manifest.json (write_params_dir), which train.py
(--params_dir), finetune_lm.sample and finetune_lm.perplexity read.
"""

import argparse
import collections
import json
import os
import shutil
import sys

import numpy as np

from . import release
from .errors import UserError
from .weights import MANIFEST
from .loop import ResultLogger


# -- the released format ----------------------------------------------------------------

def released_arrays(arrays, hp):
    """[positions, tokens, h0 ...] (the release's order) of our [we, h0 ...]: we holds
    the tokens, hp.n_special rows (dropped), then the positions."""
    we = np.asarray(arrays[0], np.float32)
    return ([we[hp.n_vocab + hp.n_special:], we[:hp.n_vocab]]
            + [np.asarray(a, np.float32) for a in arrays[1:1 + 12 * hp.n_layer]])


def write_params_dir(out, arrays, hp, encoder_path, bpe_path, info=None):
    """Write the model in the released format to folder `out`: params_shapes.json,
    params_0..9.npy (one float32 stream: positions, tokens, each layer's 12 arrays,
    cut in 10), the two vocabulary files, and manifest.json ({"files": {name: {"bytes",
    "sha256"}}, "model": the sizes}). The folder is written beside `out` and renamed
    into place: a kill leaves the previous complete folder (or, between the two
    renames, `<out>.old-*`)."""
    from .weights import sha256_file
    out = os.path.normpath(out)
    parent = os.path.dirname(out) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, ".%s.tmp-%d" % (os.path.basename(out), os.getpid()))
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    released = released_arrays(arrays, hp)
    with open(os.path.join(tmp, release.SHAPES_FILE), "w") as f:
        json.dump([list(a.shape) for a in released], f)
    flat = np.concatenate([a.ravel() for a in released])
    for name, chunk in zip(release.SHARD_FILES, np.array_split(flat, release.N_SHARDS)):
        with open(os.path.join(tmp, name), "wb") as f:
            np.save(f, chunk)
    del flat
    shutil.copyfile(encoder_path, os.path.join(tmp, release.ENCODER_FILE))
    shutil.copyfile(bpe_path, os.path.join(tmp, release.BPE_FILE))
    files = {}
    for name in release.FILES:
        path = os.path.join(tmp, name)
        files[name] = {"bytes": os.path.getsize(path), "sha256": sha256_file(path)}
    model = {"n_vocab": hp.n_vocab, "n_ctx": int(released[0].shape[0]), "n_embd": hp.n_embd,
             "n_head": hp.n_head, "n_layer": hp.n_layer, "afn": hp.afn}
    manifest = {"files": files, "model": model}
    if info:
        manifest["trained"] = info
    with open(os.path.join(tmp, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    for name in os.listdir(tmp):
        fd = os.open(os.path.join(tmp, name), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    if os.path.exists(out):
        old = os.path.join(parent, ".%s.old-%d" % (os.path.basename(out), os.getpid()))
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old)
    else:
        os.rename(tmp, out)
    return out


# -- the model's variables ---------------------------------------------------------------

def lm_shapes(hp):
    """{name: shape} of the language model's variables (param_shapes without the head)."""
    from .model import param_shapes
    return collections.OrderedDict((n, s) for n, s in param_shapes(hp).items()
                                   if not n.startswith("model/clf/"))


def LMState(strategy, hp, arrays=()):
    """towers.TrainState for the language model: the transformer's variables (no task
    head), Adam's slots and the update count, in the strategy's scope."""
    from .towers import TrainState
    return TrainState(strategy, hp, arrays, shapes=lm_shapes(hp))


def init_arrays(init_from, hp, encoder_n_vocab):
    """[we, layers...] continuing from a released-format folder (domain adaptation):
    tokens and the first n_ctx positions as we, every layer; the folder's sizes must be
    the flags'."""
    from .sample import load_params_dir
    from .weights import read_shapes
    shapes = read_shapes(init_from)
    where = os.path.join(init_from, release.SHAPES_FILE)
    if len(shapes) < 2 or len(shapes[1]) != 2 or len(shapes[0]) != 2:
        raise UserError("--init_from %s: %s lacks the positions and tokens arrays"
                        % (init_from, where))
    width = shapes[1][1]
    if width != hp.n_embd:
        raise UserError("--init_from %s has width %d (%s); --n_embd is %d: expected the same "
                        "width" % (init_from, width, where, hp.n_embd))
    n_layer = (len(shapes) - 2) // 12
    if n_layer != hp.n_layer or (len(shapes) - 2) % 12:
        raise UserError("--init_from %s has %d arrays (%d layers); --n_layer is %d"
                        % (init_from, len(shapes), n_layer, hp.n_layer))
    if shapes[0][0] < hp.n_ctx:
        raise UserError("--init_from %s has %d positions; --n_ctx %d needs as many"
                        % (init_from, shapes[0][0], hp.n_ctx))
    arrays, _ = load_params_dir(init_from, encoder_n_vocab, hp.n_layer, hp.n_embd, hp.n_head)
    we = arrays[0]
    return [np.concatenate([we[:hp.n_vocab], we[hp.n_vocab:hp.n_vocab + hp.n_ctx]], 0)] + arrays[1:]


# -- data ------------------------------------------------------------------------------

def n_windows(n_tokens, n_ctx):
    return n_tokens // n_ctx


def epoch_order(seed, epoch, n):
    """The order of the n windows in epoch `epoch` (from 0): a function of (seed, epoch),
    so a resumed run reads the same batches."""
    return np.random.default_rng([seed, epoch, 0x9E7]).permutation(n)


def window_batches(tokens_path, n_tokens, n_ctx, order, n_per_update, first_batch, pos0):
    """tf.data pipeline of an epoch's batches from `first_batch` on: X [n_per_update,
    n_ctx, 2] int32 (the windows' token ids, their position ids), read from the token
    file (memory-mapped) ahead of the step."""
    import tensorflow as tf
    n_batches = len(order) // n_per_update
    rows = order[:n_batches * n_per_update].reshape(n_batches, n_per_update)[first_batch:]
    tokens = np.memmap(tokens_path, np.uint16, mode="r", shape=(n_tokens,))
    positions = pos0 + np.arange(n_ctx, dtype=np.int32)

    def read(idx):
        X = np.empty([len(idx), n_ctx, 2], np.int32)
        for r, w in enumerate(idx):
            X[r, :, 0] = tokens[w * n_ctx:(w + 1) * n_ctx]
        X[:, :, 1] = positions
        return X

    ds = tf.data.Dataset.from_tensor_slices(rows.astype(np.int64))
    ds = ds.map(lambda idx: tf.ensure_shape(tf.numpy_function(read, [idx], tf.int32),
                                            [n_per_update, n_ctx, 2]))
    return ds.prefetch(4)  # read ahead of the step, in tf.data's threads


# -- the command line ----------------------------------------------------------------------

def build_parser():
    p = argparse.ArgumentParser(
        description="Pre-train GPT-1's language model (paper section 4.1) on plain text, "
                    "from scratch or from --init_from, and write it in the released format.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpus", nargs="+", required=True,
                   help="UTF-8 text files (or folders of them): one document per file, or "
                        "documents separated by blank lines")
    p.add_argument("--valid_corpus", nargs="+", default=None,
                   help="held-out text: its perplexity is logged at each evaluation")
    p.add_argument("--desc", type=str, required=True, help="run name")
    p.add_argument("--out", type=str, default=None,
                   help="output folder in the released format (default: "
                        "<save_dir>/<desc>/params/)")
    p.add_argument("--init_from", type=str, default=None,
                   help="continue from a released-format folder (params/: the release)")
    p.add_argument("--params_dir", type=str, default="params/",
                   help="where the vocabulary files are (the release's)")
    p.add_argument("--encoder_path", type=str, default=None)
    p.add_argument("--bpe_path", type=str, default=None)
    p.add_argument("--log_dir", type=str, default="log/")
    p.add_argument("--save_dir", type=str, default="save/")
    p.add_argument("--cache_dir", type=str, default=os.path.join("datasets", ".cache", "corpus"),
                   help="where the corpus's token file is kept, named by its content")
    p.add_argument("--workers", type=int, default=0, help="encoding processes (0: one a core)")
    # The paper's recipe (section 4.1).
    p.add_argument("--n_iter", type=int, default=100, help="epochs")
    p.add_argument("--n_batch", type=int, default=16, help="windows per tower")
    p.add_argument("--n_gpu", type=int, default=4,
                   help="towers per update (--n_batch x --n_gpu = 64 windows)")
    p.add_argument("--n_ctx", type=int, default=512, help="tokens per window")
    p.add_argument("--n_embd", type=int, default=768)
    p.add_argument("--n_head", type=int, default=12)
    p.add_argument("--n_layer", type=int, default=12)
    p.add_argument("--lr", type=float, default=2.5e-4, help="maximum learning rate")
    p.add_argument("--lr_warmup_updates", type=int, default=2000,
                   help="linear warmup over this many updates, then --lr_schedule")
    p.add_argument("--lr_schedule", type=str, default="warmup_cosine")
    p.add_argument("--embd_pdrop", type=float, default=0.1)
    p.add_argument("--attn_pdrop", type=float, default=0.1)
    p.add_argument("--resid_pdrop", type=float, default=0.1)
    p.add_argument("--l2", type=float, default=0.01,
                   help="modified L2 (decoupled weight decay) on every weight but biases "
                        "and gains")
    p.add_argument("--vector_l2", action="store_true", help="also on biases and gains")
    p.add_argument("--afn", type=str, default="gelu")
    p.add_argument("--max_grad_norm", type=float, default=1.0)
    p.add_argument("--b1", type=float, default=0.9)
    p.add_argument("--b2", type=float, default=0.999)
    p.add_argument("--e", type=float, default=1e-8)
    p.add_argument("--seed", type=int, default=42)
    # Execution.
    p.add_argument("--save_every", type=int, default=1000,
                   help="checkpoint every N updates (and at each epoch end)")
    p.add_argument("--eval_every", type=int, default=0,
                   help="evaluate every N updates (0: at each epoch end only)")
    p.add_argument("--cpu_devices", type=int, default=0,
                   help="split the CPU into N logical devices for the towers")
    p.add_argument("--xla", dest="xla", action="store_true", default=True)
    p.add_argument("--no_xla", dest="xla", action="store_false")
    p.add_argument("--compute_dtype", choices=("float32", "bfloat16", "float16"),
                   default="float32")
    return p


# Flags that change nothing in the results: a resumed run may differ in these.
RESUME_FREE = ("save_every", "workers", "cache_dir", "cpu_devices")


def check_args(args):
    from .model import ACT_FNS
    from .opt import SCHEDULES
    for flag, value, known in (("--afn", args.afn, ACT_FNS),
                               ("--lr_schedule", args.lr_schedule, SCHEDULES)):
        if value not in known:
            raise UserError("%s %r is not known; expected one of: %s"
                            % (flag, value, ", ".join(sorted(known))))
    for flag in ("n_iter", "n_batch", "n_gpu", "n_layer", "n_head", "n_embd"):
        if getattr(args, flag) < 1:
            raise UserError("--%s %d: expected a positive integer" % (flag, getattr(args, flag)))
    if args.n_embd % args.n_head:
        raise UserError("--n_embd %d is not divisible by --n_head %d" % (args.n_embd, args.n_head))
    if args.n_ctx < 2:
        raise UserError("--n_ctx %d: expected at least 2 tokens per window" % args.n_ctx)
    for flag in ("save_every", "eval_every", "workers"):
        if getattr(args, flag) < 0:
            raise UserError("--%s %d: expected 0 or more" % (flag, getattr(args, flag)))
    if args.lr_warmup_updates < 1:
        raise UserError("--lr_warmup_updates %d: expected at least 1 (the schedule divides by "
                        "it)" % args.lr_warmup_updates)
    if not args.lr > 0:
        raise UserError("--lr %s: expected a positive number" % args.lr)
    args.encoder_path = args.encoder_path or os.path.join(args.params_dir, release.ENCODER_FILE)
    args.bpe_path = args.bpe_path or os.path.join(args.params_dir, release.BPE_FILE)
    args.out = args.out or os.path.join(args.save_dir, args.desc, "params")
    return args


def recipe_hparams(args, n_vocab, n_updates_total):
    """HParams of the run: the paper's recipe from the flags. No special rows: we holds
    the tokens then the n_ctx positions (as the release does)."""
    from .hparams import HParams
    return HParams(
        n_vocab=n_vocab, n_special=0, n_ctx=args.n_ctx, n_embd=args.n_embd,
        n_head=args.n_head, n_layer=args.n_layer, embd_pdrop=args.embd_pdrop,
        attn_pdrop=args.attn_pdrop, resid_pdrop=args.resid_pdrop, afn=args.afn,
        lm_coef=1.0, lr=args.lr, lr_warmup=args.lr_warmup_updates / n_updates_total,
        lr_schedule=args.lr_schedule, b1=args.b1, b2=args.b2, e=args.e, l2=args.l2,
        vector_l2=args.vector_l2, max_grad_norm=args.max_grad_norm,
        n_updates_total=n_updates_total, n_batch=args.n_batch, n_gpu=args.n_gpu,
        seed=args.seed, xla=args.xla, compute_dtype=args.compute_dtype)


def run(args):
    """The whole pre-training job; returns a dict of the final figures."""
    import tensorflow as tf
    from tqdm import tqdm

    from . import corpus, towers
    from .checkpoint import RunCheckpoint, differing_flags, scalar_summary
    from .perplexity import Scorer
    from .text import _load_encoder

    check_args(args)
    current = json.loads(json.dumps(vars(args)))
    run_dir = os.path.join(args.save_dir, args.desc)
    ckpt_dir = os.path.join(run_dir, "checkpoint")

    def same_args(saved):
        diff = differing_flags(saved, current, free=RESUME_FREE)
        if diff:
            raise UserError("%s was made with other arguments (%s); run with the same "
                            "arguments to resume, or use another --desc / delete it to start "
                            "over" % (ckpt_dir, "; ".join(diff)))

    pointer = RunCheckpoint.read_pointer(ckpt_dir)
    if pointer is not None:
        same_args(pointer["args"])
        if pointer["finished"]:
            print("resume: run %r already finished (%d updates; %s); its model is in %s"
                  % (args.desc, pointer["n_updates"], ckpt_dir, args.out))
            return {"n_updates": pointer["n_updates"], "already_finished": True}

    if args.cpu_devices > 1:
        towers.split_cpu(args.cpu_devices)
    tf.config.experimental.enable_op_determinism()
    n_vocab = len(_load_encoder(args.encoder_path))
    data = corpus.build(args.corpus, args.encoder_path, args.bpe_path, args.cache_dir,
                        workers=args.workers or None)
    valid = (corpus.build(args.valid_corpus, args.encoder_path, args.bpe_path, args.cache_dir,
                          workers=args.workers or None) if args.valid_corpus else None)
    n_win = n_windows(data.n_tokens, args.n_ctx)
    per_update = args.n_batch * args.n_gpu
    n_batches = n_win // per_update
    if n_batches == 0:
        raise UserError("the corpus has %d tokens: %d windows of --n_ctx %d, fewer than the "
                        "%d of one update (--n_batch %d x --n_gpu %d); expected more text"
                        % (data.n_tokens, n_win, args.n_ctx, per_update, args.n_batch,
                           args.n_gpu))
    total = n_batches * args.n_iter
    hp = recipe_hparams(args, n_vocab, total)
    print("pretrain: %d tokens, %d windows of %d, %d updates of %d windows per epoch, %d "
          "epochs, %d updates" % (data.n_tokens, n_win, args.n_ctx, n_batches, per_update,
                                  args.n_iter, total), file=sys.stderr)

    init = init_arrays(args.init_from, hp, n_vocab) if args.init_from else []
    strategy = towers.make_strategy(hp.n_gpu)
    state = LMState(strategy, hp, init)
    del init
    step = towers.lm_train(state)
    chief = towers.is_chief(strategy)
    ckpt = RunCheckpoint(ckpt_dir, state)
    scorer = Scorer(state.params, hp, n_batch=max(1, args.n_batch)) if valid else None

    n_updates, epoch, batch = 0, 0, 0
    losses = [0.0, 0]  # sum and count of the training losses since the last evaluation
    restored = ckpt.restore()
    if restored is not None:
        _, meta = restored
        same_args(meta["args"])
        n_updates, epoch, batch = meta["n_updates"], meta["epoch"], meta["batch"]
        losses[:] = meta["tr_losses"]
        logger = ResultLogger(os.path.join(args.log_dir, args.desc + ".jsonl"), meta["log"], chief)
        print("resume: run %r from update %d (epoch %d, batch %d) of %s"
              % (args.desc, n_updates, epoch + 1, batch, ckpt_dir), file=sys.stderr)
    else:
        logger = ResultLogger(os.path.join(args.log_dir, args.desc + ".jsonl"), write=chief,
                              **current)
    writer = tf.summary.create_file_writer(os.path.join(args.log_dir, args.desc)) if chief else None
    last_saved = [n_updates if restored is not None else None]

    def evaluate():
        line = {"n_epochs": epoch, "n_updates": n_updates}
        if losses[1]:
            line["tr_loss"] = losses[0] / losses[1]
            line["tr_ppl"] = float(np.exp(line["tr_loss"]))
        if valid is not None:
            count, s = 0, 0.0
            for i in range(len(valid.files)):
                c, t = scorer.score(np.asarray(valid.file_tokens(i)), hp.n_ctx - 1)
                count, s = count + c, s + t
            if count:
                line["va_loss"] = s / count
                line["va_ppl"] = float(np.exp(s / count))
        logger.log(**line)
        if writer is not None:
            with writer.as_default(step=n_updates):
                for key, tag in (("tr_loss", "train/loss"), ("tr_ppl", "train/perplexity"),
                                 ("va_loss", "valid/loss"), ("va_ppl", "valid/perplexity")):
                    if key in line:
                        scalar_summary(tag, line[key])
            writer.flush()
        print(" ".join("%s %s" % (k, ("%.4f" % v) if isinstance(v, float) else v)
                       for k, v in line.items()), file=sys.stderr)
        losses[:] = [0.0, 0]

    def checkpoint():
        if chief:
            ckpt.save({"args": current, "n_updates": n_updates, "epoch": epoch, "batch": batch,
                       "best": None, "log": logger.lines, "tr_losses": losses})
        last_saved[0] = n_updates

    def write_out():
        if chief:
            write_params_dir(args.out, state.get_params(), hp, args.encoder_path, args.bpe_path,
                             info={"desc": args.desc, "n_updates": n_updates,
                                   "n_epochs": epoch, "corpus_tokens": data.n_tokens,
                                   "init_from": args.init_from})

    if restored is None:
        evaluate()  # the starting point
    pos0 = hp.n_vocab + hp.n_special
    try:
        while epoch < args.n_iter:
            order = epoch_order(args.seed, epoch, n_win)
            ds = window_batches(data.path, data.n_tokens, hp.n_ctx, order, per_update, batch, pos0)
            bar = tqdm(total=n_batches, initial=batch, ncols=90, leave=False, file=sys.stderr,
                       unit="upd", desc="epoch %d/%d" % (epoch + 1, args.n_iter))
            try:
                for X in ds:
                    loss, gnorm, lr = step(X.numpy())
                    n_updates += 1
                    batch += 1
                    if not (np.isfinite(loss) and np.isfinite(gnorm)):
                        kept = ("the last good checkpoint, update %d, is kept in %s"
                                % (last_saved[0], ckpt_dir) if last_saved[0] is not None
                                else "no checkpoint was saved before it")
                        raise UserError("training diverged at update %d: loss %s, gradient norm "
                                        "%s; %s" % (n_updates, loss, gnorm, kept))
                    losses[0] += loss
                    losses[1] += 1
                    if writer is not None:
                        with writer.as_default(step=n_updates):
                            scalar_summary("loss", loss)
                            scalar_summary("perplexity", float(np.exp(min(loss, 80.0))))
                            scalar_summary("learning_rate", lr)
                            scalar_summary("grad_norm", gnorm)
                    bar.update(1)
                    bar.set_postfix(loss="%.3f" % loss, refresh=False)
                    if args.eval_every and n_updates % args.eval_every == 0 and batch < n_batches:
                        evaluate()
                    if args.save_every and n_updates % args.save_every == 0 and batch < n_batches:
                        checkpoint()
            finally:
                bar.close()  # before any error line
            epoch, batch = epoch + 1, 0
            evaluate()
            write_out()
            checkpoint()
    finally:
        if writer is not None:
            writer.close()
    if chief:
        ckpt.mark_finished()
    print("pretrain: %d updates; the model is in %s" % (n_updates, args.out), file=sys.stderr)
    last = json.loads(logger.lines[-1])
    return {"n_updates": n_updates, "out": args.out, "last": last}


def main(argv=None):
    from .checkpoint import interrupted_message
    from .errors import run_command
    args = build_parser().parse_args(argv)
    return run_command(run, args, lambda: interrupted_message(
        os.path.join(args.save_dir, args.desc, "checkpoint")))


if __name__ == "__main__":
    sys.exit(main())
