"""Benchmark of the fine-tuning step (and evaluation) with random weights.

    python -m finetune_lm.bench                       # 8 x 2 x 77, full-size GPT-1
    python -m finetune_lm.bench --n_gpu 4             # the original's 32 x 2 x 77
    python -m finetune_lm.bench --n_layer 2 --n_embd 32 --n_head 4 --n_vocab 100  # tiny

Prints one `name: value` line per figure: the CPU (model name and vector
extensions, from /proc/cpuinfo), tokens per second, FLOPs per step (counted
analytically: the matmuls of the forward pass, LM head included, times 3 for
forward + backward), the achieved FLOP/s, the same device's matmul throughput
measured in this run and the ratio of the two, peak memory and the time to the
first step (tracing and compilation). The reference matmul is the fastest of a few
square sizes (1024, 2048, 4096 on a CPU; 4096, 8192 on a GPU), timed once each
before the steps: the device's real peak; that size is then timed beside each step.
Bad flags stop with one `error:` line and exit status 2.
"""

import os
import resource
import statistics
import sys
import time

import numpy as np

from finetune_lm import flags
from finetune_lm.tasks import DEFAULT, get_task
from finetune_lm.util import malloc
from finetune_lm.util.errors import UserError, command_main

PROG = "python -m finetune_lm.bench"

FIGURES = ("device", "cpu", "config", "first_step_s", "step_s", "tokens_per_s", "flops_per_step",
           "achieved_flops", "matmul_flops", "fraction_of_matmul", "peak_memory_bytes",
           "peak_memory_train_bytes", "eval_examples_per_s", "predict_n_ctx", "loss")


def build_parser():
    p = flags.parser(PROG, flags.summary(__doc__))
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="auto: the GPU when one is present, else the CPU")
    p.add_argument("--dataset", default=DEFAULT,
                   help="the task whose step is measured: its sequences per example and "
                        "its head (its inputs are synthetic; --n_ctx sets their length)")
    flags.add_devices(p, n_batch=8, n_gpu=1)
    flags.add_size(p, n_ctx=77)
    p.add_argument("--n_vocab", type=int, default=40478,
                   help="vocabulary rows of the embedding (GPT-1's 40478; + 3 special, + n_ctx)")
    p.add_argument("--pdrop", type=float, default=0.1, help="every dropout rate")
    p.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps after the first")
    p.add_argument("--intra_op", type=int, default=None, help="TF intra-op threads")
    p.add_argument("--inter_op", type=int, default=None, help="TF inter-op threads")
    p.add_argument("--matmul_n", type=int, nargs="+", default=None,
                   help="sides of the square reference matmuls, the fastest kept (default "
                        "1024 2048 4096 on a CPU, 4096 8192 on a GPU)")
    p.add_argument("--eval", dest="eval", action="store_true", default=True,
                   help="also time mgpu_predict (default)")
    p.add_argument("--no_eval", dest="eval", action="store_false",
                   help="time the training step only")
    p.add_argument("--n_batch_eval", type=int, default=None,
                   help="evaluation batch (default: n_batch * n_gpu)")
    p.add_argument("--seed", type=int, default=42, help="seed of the weights and the inputs")
    p.add_argument("--bf16_xla", action="store_true",
                   help="--compute_dtype bfloat16 on a CPU with bfloat16 instructions: keep XLA "
                        "(default: the plain graph, whose oneDNN bfloat16 matmuls are 1.5-1.7x "
                        "the float32 XLA step there; XLA's bfloat16 dots are not faster)")
    return p


def make_hparams(args):
    """The step of --dataset's declaration (its K sequences per example and its head)
    at the sizes of the flags."""
    task = get_task(getattr(args, "dataset", None) or DEFAULT)
    return flags.hparams(
        args, n_special=3, embd_pdrop=args.pdrop, attn_pdrop=args.pdrop,
        resid_pdrop=args.pdrop, clf_pdrop=args.pdrop, clf_token=args.n_vocab + 2,
        head=task.head, n_seq=task.n_seq, n_out=task.n_out, soft_targets=task.soft_targets,
        n_updates_total=1000)


def synthetic_batch(hp, n, seed=0):
    """Realistic inputs: K sequences [_start_] text [_delimiter_] text [_classify_] per
    example, zero-padded, lengths spread over the context, mask 1 on real tokens; targets
    of the head's kind (soft targets: a random distribution over the classes)."""
    from finetune_lm.model.heads import n_logits  # TensorFlow: not before the flags are checked
    rng = np.random.RandomState(seed)
    start, delim = hp.n_vocab, hp.n_vocab + 1
    k = hp.n_seq
    X = np.zeros((n, k, hp.n_ctx, 2), np.int32)
    M = np.zeros((n, k, hp.n_ctx), np.float32)
    for i in range(n):
        for j in range(k):
            length = rng.randint(min(5, hp.n_ctx), hp.n_ctx + 1)
            X[i, j, :length, 0] = rng.randint(0, hp.n_vocab, length)
            X[i, j, 0, 0] = start
            X[i, j, max(1, length - 4), 0] = delim
            X[i, j, length - 1, 0] = hp.clf_token
            M[i, j, :length] = 1
    X[..., 1] = np.arange(hp.n_vocab + hp.n_special, hp.n_vocab + hp.n_special + hp.n_ctx)
    if hp.soft_targets:
        Y = rng.dirichlet(np.ones(hp.n_out), n).astype(np.float32)
        return X, M, Y
    return X, M, rng.randint(0, n_logits(hp), n).astype(np.int32)


def step_flops(hp, n_examples, lm=True, backward=True):
    """Matmul FLOPs (2 per multiply-add) of one step on n_examples x K sequences.

    Per token and layer: qkv 2*C*3C, c_proj 2*C*C, c_fc 2*C*4C, mlp c_proj 2*4C*C,
    scores 2*T*C, weighted values 2*T*C (the full T x T product, as computed);
    LM head 2*C*V on the T-1 predicting tokens; classifier 2*C*n_out. The backward pass
    is counted as twice the forward (gradients of both operands of each matmul).
    """
    C, T, L, V = hp.n_embd, hp.n_ctx, hp.n_layer, hp.n_we
    seqs = n_examples * hp.n_seq
    # The head: one score per sequence (multiple choice) or n_out per example.
    fwd = seqs * T * L * (24 * C * C + 4 * T * C) + (
        seqs if hp.head == "choice" else n_examples) * 2 * C * hp.n_out
    if lm:
        fwd += seqs * (T - 1) * 2 * C * V
    return fwd * (3 if backward else 1)


def matmul_benchmark(device, dtype, n, reps=3):
    """A function measuring the median throughput (FLOP/s) of `reps` n x n x n matmuls
    of `dtype` on `device`. Its operands exist only while it measures, so that they
    add nothing to the memory the steps timed between two measurements see."""
    import tensorflow as tf

    def operands():
        with tf.device(device):
            return (tf.cast(tf.random.normal([n, n]), dtype),
                    tf.cast(tf.random.normal([n, n]), dtype))

    @tf.function
    def mm(a, b):
        with tf.device(device):
            return tf.reduce_sum(tf.cast(tf.matmul(a, b)[:1, :1], tf.float32))

    mm(*operands()).numpy()

    def measure():
        a, b = operands()
        mm(a, b).numpy()  # first touch of the new operands, untimed
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            mm(a, b).numpy()
            times.append(time.perf_counter() - t0)
        del a, b
        return 2.0 * n ** 3 / statistics.median(times)

    return measure


# Vector extensions worth naming beside a CPU figure, in /proc/cpuinfo's spelling.
CPU_EXTENSIONS = ("sse4_2", "avx", "avx2", "fma", "avx_vnni", "avx512f", "avx512bw",
                  "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
                  "amx_bf16", "amx_int8", "asimd", "sve", "sve2")


def cpu_info(path="/proc/cpuinfo"):
    """'<model name>; vector extensions: avx2 fma ...' from /proc/cpuinfo, 'unknown'
    where it cannot be read (not Linux)."""
    import platform
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return "%s; vector extensions: unknown" % (platform.processor() or platform.machine()
                                                  or "unknown")
    name, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and name is None:
            name = " ".join(value.split())
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    have = [x for x in CPU_EXTENSIONS if x in flags]
    return "%s; vector extensions: %s" % (name or platform.machine() or "unknown",
                                          " ".join(have) if have else (
                                              "none of " + " ".join(CPU_EXTENSIONS[:6])
                                              if flags else "unknown"))


def best_matmul(device, dtype, sizes, reps=3):
    """The fastest of the square matmuls of `sizes` (each timed once, median of `reps`):
    (its measuring function, its size, [(size, FLOP/s)])."""
    measured = []
    for n in sizes:
        measure = matmul_benchmark(device, dtype, n, reps)
        measured.append((n, measure(), measure))
    n, _, measure = max(measured, key=lambda m: m[1])
    return measure, n, [(m[0], m[1]) for m in measured]


BF16_EXTENSIONS = ("avx512_bf16", "amx_bf16")


def cpu_has_bf16(path="/proc/cpuinfo"):
    """True where /proc/cpuinfo names bfloat16 instructions (avx512_bf16, amx_bf16)."""
    ext = cpu_info(path).partition("vector extensions: ")[2].split()
    return any(x in ext for x in BF16_EXTENSIONS)


def plain_bf16(args, gpu):
    """--compute_dtype bfloat16 on a CPU with bfloat16 instructions runs the plain graph
    (unless --bf16_xla): XLA:CPU runs its dots through Eigen, without those instructions,
    no faster than float32; the plain graph's MatMul takes oneDNN's avx512_bf16/AMX
    kernels (docs/performance.md)."""
    return (not gpu and args.xla and getattr(args, "compute_dtype", "float32") == "bfloat16"
            and not getattr(args, "bf16_xla", False) and cpu_has_bf16())


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
    from finetune_lm.training import towers
    if args.device == "cpu":
        tf.config.set_visible_devices([], "GPU")
    gpu = bool(tf.config.list_physical_devices("GPU"))
    if args.device == "gpu" and not gpu:
        raise UserError("--device gpu: no GPU is visible to TensorFlow")
    if args.intra_op is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)
    if args.inter_op is not None:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)
    if not gpu:
        towers.split_cpu(args.cpu_devices)
    if args.xla and not plain_bf16(args, gpu):
        malloc.map_large_blocks()  # as train.py does
    return gpu


def run(args, out=print):
    """Build, time and report; returns the figures as a dict."""
    gpu = configure(args)
    import tensorflow as tf
    from finetune_lm.training import towers
    from finetune_lm.training.objectives import FineTuning

    hp = make_hparams(args)
    if plain_bf16(args, gpu):
        hp = hp.replace(xla=False)
    n = hp.n_batch_train
    objective = FineTuning(hp)
    strategy = towers.make_strategy(hp.n_gpu)
    state = towers.TrainState(strategy, hp, objective.param_shapes())
    fig_rss = _current_rss()
    train = towers.mgpu_train(state, objective)
    batches = [synthetic_batch(hp, n, seed=s) for s in range(2)]
    fig = {"device": "GPU" if gpu else "CPU (%d cores)" % os.cpu_count(), "cpu": cpu_info(),
           "config": "%dx%dx%d head=%s/%d n_layer=%d n_embd=%d n_we=%d xla=%s "
                     "compute_dtype=%s towers=%d replicas=%d" % (
                         n, hp.n_seq, hp.n_ctx, hp.head, hp.n_out, hp.n_layer, hp.n_embd,
                         hp.n_we, hp.xla, hp.compute_dtype, hp.n_gpu,
                         strategy.num_replicas_in_sync),
           "rss_after_init_bytes": fig_rss}

    t0 = time.perf_counter()
    result = train(*batches[0])
    fig["first_step_s"] = time.perf_counter() - t0
    for i in range(args.warmup):
        train(*batches[(i + 1) % 2])
    dtype = tf.float32 if not gpu else getattr(tf, hp.compute_dtype)
    sizes = args.matmul_n or ((4096, 8192) if gpu else (1024, 2048, 4096))
    mm, fig["matmul_n"], fig["matmul_sizes"] = best_matmul(
        "/GPU:0" if gpu else "/CPU:0", dtype, sizes)
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
    fig["tokens_per_s"] = n * hp.n_seq * hp.n_ctx / step_s
    fig["flops_per_step"] = flops
    fig["achieved_flops"] = flops / step_s
    fig["matmul_flops"] = statistics.median(mms)
    fig["fraction_of_matmul"] = statistics.median(flops / t / m for t, m in zip(times, mms))
    fig["peak_memory_train_bytes"] = peak_memory(gpu)
    fig["loss"] = float(np.mean(result.outputs[1]))  # the clf losses
    if args.eval:
        n_eval = args.n_batch_eval or n
        predict = towers.mgpu_predict(state, objective, n_eval)
        X, M, Y = synthetic_batch(hp, n_eval, seed=2)
        predict(X, M, Y)
        # Also what `python -m finetune_lm.predict` runs per batch: examples (K sequences
        # each) per second at the task's n_ctx (predict_n_ctx), the median of 3 batches.
        times_p = []
        for _ in range(3):
            t0 = time.perf_counter()
            predict(X, M, Y)
            times_p.append(time.perf_counter() - t0)
        fig["eval_examples_per_s"] = n_eval / statistics.median(times_p)
    else:
        fig["eval_examples_per_s"] = float("nan")
    fig["predict_n_ctx"] = hp.n_ctx
    fig["peak_memory_bytes"] = peak_memory(gpu)  # training and evaluation

    for name in FIGURES:
        value = fig[name]
        if isinstance(value, float):
            value = "%.6g" % value
        out("%s: %s" % (name, value))
    out("step_s_all: %s" % " ".join("%.4f" % t for t in times))
    out("matmul_flops_all: %s" % " ".join("%.4g" % m for m in mms))
    out("matmul_n: %d (fastest of %s)" % (fig["matmul_n"], " ".join(
        "%d: %.4g" % (n, f) for n, f in fig["matmul_sizes"])))
    out("rss_after_init_bytes: %d" % fig["rss_after_init_bytes"])
    return fig


def check_args(args):
    """One UserError naming the flag, before TensorFlow starts."""
    get_task(args.dataset)
    flags.check(args, names=("afn",))
    if args.n_ctx < 2:
        raise UserError("--n_ctx %d: expected at least 2 tokens" % args.n_ctx)
    for n in args.matmul_n or ():
        if n < 1:
            raise UserError("--matmul_n %d: expected positive matrix sides" % n)


def main(argv=None):
    # run and the check looked up at each call, so a test can replace them.
    return command_main(build_parser, run, check=check_args)(argv)


if __name__ == "__main__":
    sys.exit(main())
