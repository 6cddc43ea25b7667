"""Fine-tune GPT-1 on a task with the combined classification + LM loss.

The command line and outputs of the original train.py (openai/finetune-transformer-lm):

    python train.py --dataset rocstories --desc rocstories --submit --analysis \
        --data_dir datasets/rocstories

Logs `log_dir/<desc>.jsonl`, keeps `save_dir/<desc>/best_params.jl`, writes
`submission_dir/ROCStories.tsv` and prints the valid and test accuracy.
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
    p.add_argument("--xla", action="store_true", help="compile each tower's step with XLA")
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
    """JSON lines: the run's arguments first, then one line per evaluation."""

    def __init__(self, path, **kwargs):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.f_log = open(path, "w")
        self.log(**kwargs)

    def log(self, **kwargs):
        kwargs.setdefault("time", time.time())
        self.f_log.write(json.dumps(kwargs) + "\n")
        self.f_log.flush()

    def close(self):
        self.f_log.close()


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


def prepare(args, verbose=True):
    """Read and encode the task; returns (hp, data) with data the model inputs per split."""
    from .datasets import get_task, n_ctx_for, transform_roc
    from .hparams import HParams
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
    n_train = len(data["train"][2])
    hp = HParams(
        n_vocab=n_vocab, n_special=n_special, n_ctx=n_ctx, n_embd=args.n_embd,
        n_head=args.n_head, n_layer=args.n_layer, embd_pdrop=args.embd_pdrop,
        attn_pdrop=args.attn_pdrop, resid_pdrop=args.resid_pdrop, clf_pdrop=args.clf_pdrop,
        afn=args.afn, clf_token=clf_token, lm_coef=args.lm_coef, lr=args.lr,
        lr_warmup=args.lr_warmup, lr_schedule=args.lr_schedule, b1=args.b1, b2=args.b2,
        e=args.e, l2=args.l2, vector_l2=args.vector_l2, max_grad_norm=args.max_grad_norm,
        n_updates_total=max(1, (n_train // (args.n_batch * args.n_gpu)) * args.n_iter),
        n_batch=args.n_batch, n_gpu=args.n_gpu, seed=args.seed, xla=args.xla)
    return hp, data


def run(args):
    """The whole fine-tuning job; returns a dict of the final figures."""
    import tensorflow as tf

    from . import analysis, towers, weights
    from .datasets import get_task

    print(args)
    towers.split_cpu(args.cpu_devices)
    random.seed(args.seed)
    np.random.seed(args.seed)
    tf.random.set_seed(args.seed)
    tf.config.experimental.enable_op_determinism()

    logger = ResultLogger(os.path.join(args.log_dir, "%s.jsonl" % args.desc), **vars(args))
    hp, data = prepare(args)
    trX, trM, trY = data["train"]
    vaX, vaM, vaY = data["valid"]
    teX, teM, _ = data["test"]
    n_valid = len(vaY)

    init = weights.transfer_arrays(args.params_dir, hp, args.n_transfer)
    strategy = towers.make_strategy(hp.n_gpu)
    state = towers.TrainState(strategy, hp, init)
    train_step = towers.mgpu_train(state)
    predict = towers.mgpu_predict(state)
    chief = towers.is_chief(strategy)
    best_path = os.path.join(args.save_dir, args.desc, "best_params.jl")

    def save():
        if chief:
            os.makedirs(os.path.dirname(best_path), exist_ok=True)
            weights.save_params(best_path, state.get_params())

    def evaluate(X, M, Y):
        logits, losses = predict(X, M, Y)
        return float(np.sum(losses)) / len(Y), float(np.mean(np.argmax(logits, 1) == Y) * 100.)

    best = {"score": 0.0}

    def log(n_epochs, n_updates):
        tr_cost, tr_acc = evaluate(trX[:n_valid], trM[:n_valid], trY[:n_valid])
        va_cost, va_acc = evaluate(vaX, vaM, vaY)
        logger.log(n_epochs=n_epochs, n_updates=n_updates, tr_cost=tr_cost, va_cost=va_cost,
                   tr_acc=tr_acc, va_acc=va_acc)
        print("%d %d %.3f %.3f %.2f %.2f" % (n_epochs, n_updates, tr_cost, va_cost, tr_acc, va_acc))
        if args.submit and va_acc > best["score"]:
            best["score"] = va_acc
            save()

    n_updates = 0
    if args.submit:
        save()
    from tqdm import tqdm
    for n_epochs in range(args.n_iter):
        order = epoch_order(len(trY))
        X, M, Y = trX[order], trM[order], trY[order]
        batches = list(iter_batches(len(Y), hp.n_batch_train, truncate=True))
        for rows in tqdm(batches, ncols=80, leave=False, file=sys.stderr):
            train_step(X[rows], M[rows], Y[rows])
            n_updates += 1
            if n_updates in OUT_OF_FIRST_EPOCH_EVALS and n_epochs == 0:
                log(n_epochs, n_updates)
        log(n_epochs + 1, n_updates)
    logger.close()

    result = {"best_valid": best["score"], "n_updates": n_updates}
    if args.submit:
        state.set_params(weights.load_params(best_path, state.params_shapes()))
        logits, _ = predict(teX, teM)
        predictions = np.argmax(logits, 1)
        _, filename = get_task(args.dataset)
        path = os.path.join(args.submission_dir, filename)
        if chief:
            os.makedirs(args.submission_dir, exist_ok=True)
            with open(path, "w") as f:
                f.write("index\tprediction\n")
                for i, prediction in enumerate(predictions):
                    f.write("%d\t%d\n" % (i, prediction))
        if args.analysis and chief:
            va, te = analysis.ANALYSES[args.dataset](
                args.data_dir, path, os.path.join(args.log_dir, "%s.jsonl" % args.desc))
            result.update(valid_accuracy=va, test_accuracy=te)
    return result


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        check_args(args)
        run(args)
    except UserError as err:
        print("error: %s" % err, file=sys.stderr)
        return 2
    return 0
