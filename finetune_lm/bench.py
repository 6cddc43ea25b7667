"""Benchmark of the fine-tuning step (and evaluation) with random weights.

    python -m finetune_lm.bench                       # 8 x 2 x 77, full-size GPT-1
    python -m finetune_lm.bench --n_gpu 4             # the original's 32 x 2 x 77
    python -m finetune_lm.bench --n_layer 2 --n_embd 32 --n_head 4 --n_vocab 100  # tiny

Prints one `name: value` line per figure: tokens per second, FLOPs per step
(counted analytically: the matmuls of the forward pass, LM head included, times
3 for forward + backward), the achieved FLOP/s, the same device's matmul
throughput measured in this run and the ratio of the two, peak memory and the
time to the first step (tracing and compilation).
"""

import argparse
import os
import resource
import statistics
import sys
import time

import numpy as np

from . import malloc
from .hparams import HParams

FIGURES = ("device", "config", "first_step_s", "step_s", "tokens_per_s", "flops_per_step",
           "achieved_flops", "matmul_flops", "fraction_of_matmul", "peak_memory_bytes",
           "peak_memory_train_bytes", "eval_examples_per_s", "loss")


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="auto: the GPU when one is present, else the CPU")
    p.add_argument("--n_batch", type=int, default=8, help="examples per tower")
    p.add_argument("--n_gpu", type=int, default=1, help="towers per update")
    p.add_argument("--n_ctx", type=int, default=77)
    p.add_argument("--n_embd", type=int, default=768)
    p.add_argument("--n_head", type=int, default=12)
    p.add_argument("--n_layer", type=int, default=12)
    p.add_argument("--n_vocab", type=int, default=40478)
    p.add_argument("--pdrop", type=float, default=0.1, help="every dropout rate")
    p.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps after the first")
    p.add_argument("--xla", dest="xla", action="store_true", default=None,
                   help="XLA on (default: on; see docs/performance.md)")
    p.add_argument("--no_xla", dest="xla", action="store_false")
    p.add_argument("--compute_dtype", choices=("float32", "bfloat16", "float16"),
                   default="float32", help="matmul precision (softmax, LN, losses stay float32)")
    p.add_argument("--cpu_devices", type=int, default=0,
                   help="split the CPU into N logical devices for the towers")
    p.add_argument("--intra_op", type=int, default=None, help="TF intra-op threads")
    p.add_argument("--inter_op", type=int, default=None, help="TF inter-op threads")
    p.add_argument("--matmul_n", type=int, default=None,
                   help="side of the square reference matmul (default 2048 CPU, 8192 GPU)")
    p.add_argument("--eval", dest="eval", action="store_true", default=True,
                   help="also time mgpu_predict (default)")
    p.add_argument("--no_eval", dest="eval", action="store_false")
    p.add_argument("--n_batch_eval", type=int, default=None,
                   help="evaluation batch (default: n_batch * n_gpu)")
    p.add_argument("--seed", type=int, default=42)
    return p


def make_hparams(args):
    return HParams(
        n_vocab=args.n_vocab, n_special=3, n_ctx=args.n_ctx, n_embd=args.n_embd,
        n_head=args.n_head, n_layer=args.n_layer, embd_pdrop=args.pdrop,
        attn_pdrop=args.pdrop, resid_pdrop=args.pdrop, clf_pdrop=args.pdrop,
        clf_token=args.n_vocab + 2, n_batch=args.n_batch, n_gpu=args.n_gpu,
        n_updates_total=1000, seed=args.seed, xla=args.xla, compute_dtype=args.compute_dtype)


def synthetic_batch(hp, n, seed=0):
    """Realistic inputs: [_start_] story [_delimiter_] ending [_classify_], zero-padded,
    lengths spread over the context, mask 1 on real tokens."""
    rng = np.random.RandomState(seed)
    start, delim = hp.n_vocab, hp.n_vocab + 1
    X = np.zeros((n, 2, hp.n_ctx, 2), np.int32)
    M = np.zeros((n, 2, hp.n_ctx), np.float32)
    for i in range(n):
        for j in range(2):
            length = rng.randint(min(5, hp.n_ctx), hp.n_ctx + 1)
            X[i, j, :length, 0] = rng.randint(0, hp.n_vocab, length)
            X[i, j, 0, 0] = start
            X[i, j, max(1, length - 4), 0] = delim
            X[i, j, length - 1, 0] = hp.clf_token
            M[i, j, :length] = 1
    X[..., 1] = np.arange(hp.n_vocab + hp.n_special, hp.n_vocab + hp.n_special + hp.n_ctx)
    return X, M, rng.randint(0, 2, n).astype(np.int32)


def step_flops(hp, n_examples, lm=True, backward=True):
    """Matmul FLOPs (2 per multiply-add) of one step on n_examples x 2 sequences.

    Per token and layer: qkv 2*C*3C, c_proj 2*C*C, c_fc 2*C*4C, mlp c_proj 2*4C*C,
    scores 2*T*C, weighted values 2*T*C (the full T x T product, as computed);
    LM head 2*C*V on the T-1 predicting tokens; classifier 2*C. The backward pass
    is counted as twice the forward (gradients of both operands of each matmul).
    """
    C, T, L, V = hp.n_embd, hp.n_ctx, hp.n_layer, hp.n_we
    seqs = n_examples * 2
    fwd = seqs * T * L * (24 * C * C + 4 * T * C) + seqs * 2 * C
    if lm:
        fwd += seqs * (T - 1) * 2 * C * V
    return fwd * (3 if backward else 1)


def matmul_benchmark(device, dtype, n, reps=3):
    """A function measuring the median throughput (FLOP/s) of `reps` n x n x n matmuls
    of `dtype` on `device`."""
    import tensorflow as tf
    with tf.device(device):
        a = tf.cast(tf.random.normal([n, n]), dtype)
        b = tf.cast(tf.random.normal([n, n]), dtype)

    @tf.function
    def mm(a, b):
        with tf.device(device):
            return tf.reduce_sum(tf.cast(tf.matmul(a, b)[:1, :1], tf.float32))

    mm(a, b).numpy()

    def measure():
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            mm(a, b).numpy()
            times.append(time.perf_counter() - t0)
        return 2.0 * n ** 3 / statistics.median(times)

    return measure


def peak_memory(gpu):
    """Peak bytes: the GPU allocator's peak, or the process's peak RSS on CPU."""
    if gpu:
        import tensorflow as tf
        return tf.config.experimental.get_memory_info("GPU:0")["peak"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def _current_rss():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def configure(args):
    import tensorflow as tf
    from . import towers
    if args.device == "cpu":
        tf.config.set_visible_devices([], "GPU")
    gpu = bool(tf.config.list_physical_devices("GPU"))
    if args.device == "gpu" and not gpu:
        raise SystemExit("--device gpu: no GPU is visible")
    if args.intra_op is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)
    if args.inter_op is not None:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)
    if not gpu:
        towers.split_cpu(args.cpu_devices)
    if args.xla is None:
        args.xla = True
    if args.xla:
        malloc.map_large_blocks()  # as train.py does
    return gpu


def run(args, out=print):
    """Build, time and report; returns the figures as a dict."""
    gpu = configure(args)
    import tensorflow as tf
    from . import towers

    hp = make_hparams(args)
    n = hp.n_batch_train
    strategy = towers.make_strategy(hp.n_gpu)
    state = towers.TrainState(strategy, hp)
    fig_rss = _current_rss()
    train = towers.mgpu_train(state)
    batches = [synthetic_batch(hp, n, seed=s) for s in range(2)]
    fig = {"device": "GPU" if gpu else "CPU (%d cores)" % os.cpu_count(),
           "config": "%dx2x%d n_layer=%d n_embd=%d n_we=%d xla=%s compute_dtype=%s towers=%d "
                     "replicas=%d" % (n, hp.n_ctx, hp.n_layer, hp.n_embd, hp.n_we, hp.xla,
                                      hp.compute_dtype, hp.n_gpu,
                                      strategy.num_replicas_in_sync),
           "rss_after_init_bytes": fig_rss}

    t0 = time.perf_counter()
    result = train(*batches[0])
    fig["first_step_s"] = time.perf_counter() - t0
    for i in range(args.warmup):
        train(*batches[(i + 1) % 2])
    dtype = tf.float32 if not gpu else getattr(tf, hp.compute_dtype)
    mm = matmul_benchmark("/GPU:0" if gpu else "/CPU:0", dtype, args.matmul_n or (8192 if gpu else 2048))
    flops = step_flops(hp, n)
    # Steps and reference matmuls alternate, so that both see the same machine load
    # (other processes share these cores): the fraction is the median of the pairs'.
    times, mms = [], []
    for i in range(args.steps):
        t0 = time.perf_counter()
        result = train(*batches[i % 2])
        times.append(time.perf_counter() - t0)
        mms.append(mm())
    step_s = statistics.median(times)
    fig["step_s"] = step_s
    fig["tokens_per_s"] = n * 2 * hp.n_ctx / step_s
    fig["flops_per_step"] = flops
    fig["achieved_flops"] = flops / step_s
    fig["matmul_flops"] = statistics.median(mms)
    fig["fraction_of_matmul"] = statistics.median(flops / t / m for t, m in zip(times, mms))
    fig["peak_memory_train_bytes"] = peak_memory(gpu)
    fig["loss"] = float(np.mean(result[1]))
    if args.eval:
        n_eval = args.n_batch_eval or n
        predict = towers.mgpu_predict(state, n_eval)
        X, M, Y = synthetic_batch(hp, n_eval, seed=2)
        predict(X, M, Y)
        t0 = time.perf_counter()
        predict(X, M, Y)
        fig["eval_examples_per_s"] = n_eval / (time.perf_counter() - t0)
    else:
        fig["eval_examples_per_s"] = float("nan")
    fig["peak_memory_bytes"] = peak_memory(gpu)  # training and evaluation

    for name in FIGURES:
        value = fig[name]
        if isinstance(value, float):
            value = "%.6g" % value
        out("%s: %s" % (name, value))
    out("step_s_all: %s" % " ".join("%.4f" % t for t in times))
    out("matmul_flops_all: %s" % " ".join("%.4g" % m for m in mms))
    out("rss_after_init_bytes: %d" % fig["rss_after_init_bytes"])
    return fig


def main(argv=None):
    args = build_parser().parse_args(argv)
    run(args)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
