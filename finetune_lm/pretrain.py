"""Pre-train GPT-1's language model (paper section 4.1), from scratch or onward from
the released weights, and write it in the released format for train.py.

    python -m finetune_lm.pretrain --corpus PATH... --desc NAME [--init_from params/]
        [--valid_corpus PATH...] [--out DIR] [--n_layer --n_embd --n_head --n_ctx]

The recipe's defaults are the paper's: contiguous windows of 512 tokens (the corpus
encoded once into a token file, finetune_lm/data/corpus.py, read by a tf.data pipeline),
64 windows per update (--n_batch 16 x --n_gpu 4 towers), Adam with a maximum lr of
2.5e-4 warmed up linearly over 2000 updates then annealed to 0 on a cosine
(warmup_cosine of finetune_lm.training.opt), 100 epochs, dropout 0.1 on the embeddings,
attention and residuals, the modified L2 0.01 on every weight that is not a bias or
a gain, GELU, N(0, 0.02) initialisation, the released BPE vocabulary. The loss is
the next-token cross-entropy under the softmax over the vocabulary's rows of the
tied embedding (no special rows exist here; position rows are not candidates).

The run reuses the fine-tuning machinery: towers over GPUs or machines
(training/towers.py's step with the LanguageModeling objective; TF_CONFIG), dropout seeded by (seed, update, tower),
checkpoints every --save_every updates and at each epoch end in
save_dir/<desc>/checkpoint/ (a killed run started again with the same command goes
on from there and ends with the parameters of an uninterrupted one; other
arguments are refused), a NaN or infinite loss or gradient norm stops the run
naming the update, TensorBoard scalars (loss, perplexity, learning_rate, grad_norm
per update; train and valid loss and perplexity per evaluation) in
log_dir/<desc>/, the evaluations in log_dir/<desc>.jsonl, progress bars with ETA.

At each epoch end the model is written to --out (default save_dir/<desc>/params/) in
the released format with its own manifest.json (lm/folder.py), which train.py
(--params_dir), finetune_lm.sample and finetune_lm.perplexity read.
"""

import json
import os
import sys

from finetune_lm import flags
from finetune_lm.training.checkpoint import Resume, interrupted_message, resumed_line
from finetune_lm.util.errors import UserError, run_command
from finetune_lm.lm.loader import check_init_from
from finetune_lm.tasks.zeroshot import NAMES as ZEROSHOT_NAMES
from finetune_lm.util.files import RunLock, check_writable, lock_name

PROG = "python -m finetune_lm.pretrain"


def build_parser():
    p = flags.parser(PROG, "Pre-train GPT-1's language model (paper section 4.1) on plain "
                           "text, from scratch or from --init_from, and write it in the "
                           "released format.")
    g = p.add_argument_group("corpus and outputs")
    g.add_argument("--corpus", nargs="+", required=True,
                   help="UTF-8 text files (or folders of them): one document per file, or "
                        "documents separated by blank lines")
    g.add_argument("--valid_corpus", nargs="+", default=None,
                   help="held-out text: its perplexity is logged at each evaluation")
    g.add_argument("--out", type=str, default=None,
                   help="output folder in the released format (default: "
                        "<save_dir>/<desc>/params/)")
    g.add_argument("--init_from", type=str, default=None,
                   help="continue from a released-format folder (params/: the release) or "
                        "a Hugging Face GPT-1 folder (model.safetensors)")
    g.add_argument("--workers", type=int, default=0, help="encoding processes (0: one a core)")
    g.add_argument("--eval_every", type=int, default=0,
                   help="evaluate every N updates (0: at each epoch end only)")
    flags.add_vocabulary(p, "where the vocabulary files are (the release's)")
    z = p.add_argument_group("zero-shot curve (Figure 2 right; finetune_lm/zeroshot.py)")
    z.add_argument("--zeroshot", nargs="+", default=None, choices=ZEROSHOT_NAMES,
                   help="evaluate these heuristics on their default split during the run")
    z.add_argument("--zeroshot_at", type=str, default="",
                   help="at these updates, comma-separated (e.g. 1000,2000,4000); the "
                        "scores go to the run's log as {'zeroshot': ...} lines")
    z.add_argument("--zeroshot_data_root", type=str, default="datasets",
                   help="the folder holding each task's data folder")
    z.add_argument("--zeroshot_limit", type=int, default=0,
                   help="score the first N examples of each split only (0: all)")
    run_group = flags.add_run(p, n_iter=100, save_every=1000,
                              cache_dir=os.path.join("datasets", ".cache", "corpus"))
    run_group.description = "the paper's recipe (section 4.1) by default"
    flags.add_size(p)
    flags.add_dropout(p, clf=False)
    flags.add_optimizer(p, lr=2.5e-4, lr_schedule="warmup_cosine", warmup_updates=True)
    flags.add_devices(p, n_batch=16, n_gpu=4, what="windows")
    return p


def check_args(args):
    if not args.desc:
        raise UserError("--desc is required: the run's name (of its log, checkpoint and model)")
    flags.check(args)
    if args.n_ctx < 2:
        raise UserError("--n_ctx %d: expected at least 2 tokens per window" % args.n_ctx)
    flags.vocabulary_paths(args)
    if args.init_from:  # its sizes must be the flags', before the corpus is encoded
        check_init_from(args.init_from, args.n_embd, args.n_layer, args.n_ctx)
    args.out = args.out or os.path.join(args.save_dir, args.desc, "params")
    try:
        args.zeroshot_updates = sorted({int(x) for x in args.zeroshot_at.split(",") if x.strip()})
    except ValueError:
        raise UserError("--zeroshot_at %r: expected update numbers separated by commas"
                        % args.zeroshot_at) from None
    if bool(args.zeroshot) != bool(args.zeroshot_updates):
        raise UserError("--zeroshot and --zeroshot_at go together: the heuristics and the "
                        "updates to evaluate them at")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UserError("--out %s is a file; expected a folder to write the model into" % args.out)
    for flag, folder in (("--log_dir", args.log_dir), ("--save_dir", args.save_dir),
                         ("--out", os.path.dirname(os.path.normpath(args.out)) or ".")):
        check_writable(folder, flag)
    return args


def warmup_note(warmup, total, lr):
    """The line for a warm-up as long as the run or longer (the paper's 2000 updates on
    a small corpus): the learning rate never gets near --lr, and the model learns next
    to nothing. None otherwise."""
    if warmup < total:
        return None
    return ("note: --lr_warmup_updates %d is longer than the run's %d updates: the learning "
            "rate only rises to %.3g of --lr %g (%.3g), so the model learns next to nothing; "
            "for a small run warm up over about a tenth of it, e.g. --lr_warmup_updates %d "
            "(and a small model: --n_layer 2 --n_embd 64 --n_head 4 --n_ctx 64)"
            % (warmup, total, total / warmup, lr, lr * total / warmup, max(1, total // 10)))


def run(args):
    """The whole pre-training job, holding the run's lock; returns a dict of the final
    figures."""
    check_args(args)
    run_dir = os.path.join(args.save_dir, args.desc)
    with RunLock(run_dir, "run %r (%s)" % (args.desc, run_dir), lock_name()):
        return pretrain(args)


def pretrain(args):
    """Wiring only: the loop is training/loop.py with training/pretraining.py's hooks."""
    # Here, not at the top: TensorFlow's start-up is seconds that --help and every
    # check before the slow work need not wait for.
    import tensorflow as tf
    from finetune_lm.data import corpus
    from finetune_lm.data.text import load_encoder
    from finetune_lm.lm.folder import init_arrays
    from finetune_lm.lm.scorer import Scorer
    from finetune_lm.training import towers
    from finetune_lm.training.loop import Loop
    from finetune_lm.training.objectives import LanguageModeling
    from finetune_lm.training.pretraining import PretrainJob

    current = json.loads(json.dumps(vars(args)))
    ckpt_dir = os.path.join(args.save_dir, args.desc, "checkpoint")
    resume = Resume(ckpt_dir, current)
    pointer = resume.pointer()
    if pointer is not None and pointer["finished"]:
        print("resume: run %r already finished (%d updates; %s); its model is in %s"
              % (args.desc, pointer["n_updates"], ckpt_dir, args.out))
        return {"n_updates": pointer["n_updates"], "already_finished": True}

    towers.split_cpu(args.cpu_devices)
    tf.config.experimental.enable_op_determinism()
    n_vocab = len(load_encoder(args.encoder_path))
    build = lambda paths: corpus.build(paths, args.encoder_path, args.bpe_path, args.cache_dir,
                                       workers=args.workers or None)
    data = build(args.corpus)
    valid = build(args.valid_corpus) if args.valid_corpus else None
    n_win, per_update = data.n_tokens // args.n_ctx, args.n_batch * args.n_gpu
    if n_win < per_update:
        raise UserError("the corpus has %d tokens: %d windows of --n_ctx %d, fewer than the "
                        "%d of one update (--n_batch %d x --n_gpu %d); expected more text"
                        % (data.n_tokens, n_win, args.n_ctx, per_update, args.n_batch, args.n_gpu))
    total = n_win // per_update * args.n_iter
    # No special rows: we holds the tokens then the n_ctx positions (as the release does).
    hp = flags.hparams(args, n_vocab=n_vocab, n_special=0, lm_coef=1.0,
                       lr_warmup=args.lr_warmup_updates / total, n_updates_total=total)
    print("pretrain: %d tokens, %d windows of %d, %d updates of %d windows per epoch, %d "
          "epochs, %d updates" % (data.n_tokens, n_win, args.n_ctx, n_win // per_update,
                                  per_update, args.n_iter, total))
    note = warmup_note(args.lr_warmup_updates, total, args.lr)
    if note:
        print(note)
    sys.stdout.flush()

    objective = LanguageModeling(hp)
    strategy = towers.make_strategy(hp.n_gpu)
    state = towers.TrainState(strategy, hp, objective.param_shapes(),
                              init_arrays(args.init_from, hp, n_vocab) if args.init_from else [])
    ckpt, meta = resume.restore(state)
    scorer = Scorer(state.params, hp, n_batch=max(1, args.n_batch)) if valid else None
    job = PretrainJob(hp, state, data, valid, scorer, ckpt, meta, args, current,
                      os.path.join(args.log_dir, args.desc + ".jsonl"),
                      os.path.join(args.log_dir, args.desc), towers.is_chief(strategy))
    if args.zeroshot:
        job.zeroshot = zeroshot_hook(args, state.params, hp)
    loop = Loop(towers.mgpu_train(state, objective), job, args.n_iter, job.n_batches,
                args.save_every, ckpt_dir, meta and meta["n_updates"])
    start = (0, 0, 0) if meta is None else (meta["n_updates"], meta["epoch"], meta["batch"])
    if meta is not None:
        print(resumed_line(args.desc, meta, args.n_iter, ckpt_dir))
    try:
        n_updates = loop.run(*start)
    finally:
        job.close()
    if towers.is_chief(strategy):
        ckpt.mark_finished()
    print("pretrain: %d updates; the model is in %s" % (n_updates, args.out))
    return {"n_updates": n_updates, "out": args.out, "last": job.last_line()}


def zeroshot_hook(args, params, hp):
    """(updates, fn) for PretrainJob: fn() -> {task: {value, relative, metric}} of the
    heuristics on their default splits, read once here."""
    from finetune_lm.data.text import TextEncoder
    from finetune_lm.lm import zeroshot as engine
    from finetune_lm.tasks.zeroshot import BY_NAME
    encode = engine.Encoded(TextEncoder(args.encoder_path, args.bpe_path))
    from finetune_lm.lm.scorer import Scorer
    lp = Scorer(params, hp, n_batch=max(1, args.n_batch)).sequence_logprobs
    data = {}
    for name in args.zeroshot:
        zs = BY_NAME[name]
        data[name] = engine.load_split(zs, os.path.join(args.zeroshot_data_root, zs.folder),
                                zs.default_split, args.zeroshot_limit)

    def fn():
        out = {}
        for name, (split, fit) in data.items():
            zs = BY_NAME[name]
            r = engine.evaluate(zs, lp, encode, hp.n_ctx, split, fit)
            out[name] = {"metric": zs.metric.key, "value": r["value"], "relative": r["relative"]}
        return out
    return set(args.zeroshot_updates), fn


def main(argv=None):
    args = build_parser().parse_args(argv)
    return run_command(run, args, lambda: interrupted_message(
        os.path.join(args.save_dir, args.desc or "", "checkpoint")))


if __name__ == "__main__":
    sys.exit(main())
