"""The benchmark runs on a tiny model and prints its figures; the fast (XLA) step gives
the plain step's numbers."""

import platform
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from helpers import run_module, subprocess_env
from finetune_lm.bench import cpu_info, step_flops, synthetic_batch
from finetune_lm.model.hparams import HParams
from finetune_lm.model.ops import init_value
from finetune_lm.training import towers
from finetune_lm.training.objectives import FineTuning
from finetune_lm.util import malloc

TINY = ["--n_layer", "2", "--n_embd", "32", "--n_head", "4", "--n_vocab", "100",
        "--n_ctx", "12", "--steps", "2", "--warmup", "1", "--matmul_n", "256"]

NUMERIC = ("first_step_s", "step_s", "tokens_per_s", "flops_per_step", "achieved_flops",
           "matmul_flops", "fraction_of_matmul", "peak_memory_bytes", "peak_memory_train_bytes",
           "eval_examples_per_s", "predict_n_ctx",
           "loss")


# The tiny model of the in-process step tests, with ROCStories' head (2 choices).
TINY_HP = dict(n_vocab=50, n_ctx=10, n_embd=32, n_head=4, n_layer=2, clf_token=52,
               head="choice", n_seq=2, n_out=1)


def bench(*args):
    proc = run_module("bench", TINY + list(args), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = {}
    for line in proc.stdout.splitlines():
        if ": " in line:
            name, value = line.split(": ", 1)
            figures[name] = value
    return figures


@pytest.mark.slow
@pytest.mark.parametrize("flags", [["--xla", "--n_gpu", "2"], ["--no_xla"]])
def test_bench_prints_every_figure(flags):
    f = bench(*flags, "--matmul_n", "128", "256")
    for name in NUMERIC:
        assert name in f, name
        value = float(f[name])
        assert np.isfinite(value) and value > 0, (name, value)
    assert f["device"].startswith("CPU")
    assert ("xla=%s" % ("--xla" in flags)) in f["config"]
    n_ex = 16 if "--n_gpu" in flags else 8
    assert f["config"].startswith("%dx2x12" % n_ex)
    assert float(f["tokens_per_s"]) == pytest.approx(n_ex * 2 * 12 / float(f["step_s"]), rel=1e-3)
    assert float(f["achieved_flops"]) == pytest.approx(
        float(f["flops_per_step"]) / float(f["step_s"]), rel=1e-3)
    # The median of per-step ratios (each step against the matmul timed next to it).
    assert 0 < float(f["fraction_of_matmul"]) < 10
    assert float(f["peak_memory_bytes"]) >= float(f["peak_memory_train_bytes"]) > 1e8
    # The CPU line, and the matmul of the best of the sizes timed.
    assert f["cpu"].split("; vector extensions: ")[1]  # names the extensions, or "unknown"
    n, sizes = f["matmul_n"].split(" (fastest of ")
    measured = dict(re.findall(r"(\d+): ([0-9.e+-]+)", sizes))
    assert set(measured) == {"128", "256"}
    assert float(measured[n]) == max(float(v) for v in measured.values())


def bench_fails(*args):
    env = subprocess_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the bench keeps TensorFlow quiet itself
    proc = run_module("bench", args, timeout=120, env=env)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("flags, words", [
    (["--steps", "0"], ["--steps 0", "positive"]),
    (["--n_embd", "65"], ["--n_embd 65", "--n_head 12"]),
    (["--n_embd", "64", "--n_head", "12"], ["--n_embd 64", "--n_head 12"]),
    (["--n_gpu", "3", "--cpu_devices", "2"], ["--n_gpu 3", "--cpu_devices 2"]),
    (["--matmul_n", "0"], ["--matmul_n 0"]),
])
def test_bad_flags_one_error_line(flags, words):
    line = bench_fails(*flags)
    for w in words:
        assert w in line, line


def test_cpu_info_reads_proc_cpuinfo(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nmodel name\t: AMD  EPYC 9654\nflags\t\t: fpu sse4_2 avx "
                    "avx2 fma avx512f avx512bw avx512_bf16 amx_tile\n\nprocessor\t: 1\n")
    assert cpu_info(str(path)) == ("AMD EPYC 9654; vector extensions: sse4_2 avx avx2 fma "
                                   "avx512f avx512bw avx512_bf16 amx_tile")
    path.write_text("model name\t: Old CPU\nflags\t\t: fpu sse2\n")
    assert cpu_info(str(path)).startswith("Old CPU; vector extensions: none of sse4_2 avx")
    assert cpu_info(str(tmp_path / "absent")).endswith("; vector extensions: unknown")


def test_step_flops_full_size():
    """GPT-1 at 8 x 2 x 77: ~0.9 TFLOP per update, a quarter of it the LM head."""
    hp = HParams(n_ctx=77, head="choice", n_seq=2, n_out=1)  # ROCStories' head
    C, T, L, V = 768, 77, 12, 40478 + 3 + 77
    body = 16 * T * L * (24 * C * C + 4 * T * C)
    head = 16 * (T - 1) * 2 * C * V
    assert step_flops(hp, 8) == 3 * (body + head + 16 * 2 * C)
    assert step_flops(hp, 8, lm=False, backward=False) == body + 16 * 2 * C
    assert 0.85e12 < step_flops(hp, 8) < 0.9e12


def test_synthetic_batch_is_realistic():
    hp = HParams(n_vocab=100, n_ctx=12, clf_token=102, head="choice", n_seq=2, n_out=1)
    X, M, Y = synthetic_batch(hp, 5)
    assert X.shape == (5, 2, 12, 2) and M.shape == (5, 2, 12) and Y.shape == (5,)
    for i in range(5):
        for j in range(2):
            n = int(M[i, j].sum())
            assert M[i, j, :n].all() and not M[i, j, n:].any()
            assert X[i, j, 0, 0] == 100 and X[i, j, n - 1, 0] == 102
            assert not X[i, j, n:, 0].any()
    assert (X[..., 1] == np.arange(103, 115)).all()


def _updates(xla, n_gpu, steps=2):
    """Parameters, per-example losses after each of `steps` updates of a tiny model
    (dropout on), and then the logits of a prediction."""
    hp = HParams(n_batch=2, n_gpu=n_gpu, n_updates_total=10, lr=1e-3, lr_warmup=0.1, xla=xla,
                 **TINY_HP)
    objective = FineTuning(hp)
    state = towers.TrainState(towers.make_strategy(1), hp, objective.param_shapes())
    train = towers.mgpu_train(state, objective)
    # StepOutput(loss, (clf_logits, clf_losses), grad_norm, lr): the per-example losses.
    losses = [train(*synthetic_batch(hp, hp.n_batch_train, seed=s)).outputs[1]
              for s in range(steps)]
    predict = towers.mgpu_predict(state, objective, 3)
    logits = predict(*synthetic_batch(hp, 7, seed=9))[0]
    return state.get_params(), losses, logits


@pytest.mark.parametrize("n_gpu", [1, 2])
def test_xla_step_equals_plain_step(n_gpu):
    p_plain, l_plain, e_plain = _updates(False, n_gpu)
    p_xla, l_xla, e_xla = _updates(True, n_gpu)
    for a, b in zip(l_plain, l_xla):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    shapes = FineTuning(HParams(**TINY_HP)).param_shapes()
    names = list(shapes)
    for name, a, b in zip(names, p_plain, p_xla):
        if name == "model/clf/b":
            # Its gradient is 0 up to round-off (a bias shared by both choices cancels
            # in their softmax), and Adam scales that round-off up to lr-sized steps.
            continue
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=name)
    # Logits up to clf/b, which shifts both choices alike.
    centred = lambda e: e - e.mean(1, keepdims=True)
    np.testing.assert_allclose(centred(e_plain), centred(e_xla), rtol=1e-5, atol=1e-5)
    # The updates moved the parameters (the comparison is not of two no-ops).
    start = [init_value(n, s, 42) for n, s in shapes.items()]
    # model/clf/b left out: its gradient is 0 up to round-off (above), which may be exactly
    # 0 after the towers' mean, and then it does not move.
    assert all(np.max(np.abs(a - s)) > 1e-5 for n, a, s in zip(names, p_plain, start)
               if n != "model/clf/b")


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_mixed_precision_forward_close_to_float32(dtype):
    """compute_dtype runs the matmuls in 16 bits and keeps the rest in float32: the
    losses move by round-off only (a tiny model, so the check runs on any CPU)."""
    hp = HParams(**TINY_HP)
    P = {n: tf.constant(init_value(n, s, 1)) for n, s in FineTuning(hp).param_shapes().items()}
    X, M, Y = (tf.constant(a) for a in synthetic_batch(hp, 4))
    ref = FineTuning(hp).forward(P, X, M, Y)
    low = FineTuning(hp.replace(compute_dtype=dtype)).forward(P, X, M, Y)
    for a, b in zip(ref, low):
        assert b.dtype == tf.float32
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=2e-2, atol=2e-2)


MAPPED = r'''
import ctypes, ctypes.util, sys
from finetune_lm.util import malloc
libc = ctypes.CDLL(ctypes.util.find_library("c"))
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "set":
    print(malloc.map_large_blocks())
libc.free(libc.malloc(4 << 20))  # mapped; by default glibc's threshold rises past 4 MB here
for size in (2 << 20, 512 << 10):  # is a block of this size mapped?
    before = libc.mallinfo2().hblkhd
    p = libc.malloc(size)
    print(libc.mallinfo2().hblkhd - before >= size)
    libc.free(p)
'''


@pytest.mark.slow
def test_map_large_blocks_keeps_them_mapped():
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc's mallopt and mallinfo2")
    env = subprocess_env()
    run = lambda arg: subprocess.run([sys.executable, "-c", MAPPED, arg], capture_output=True,
                                     text=True, timeout=60, env=env, check=True).stdout.split()
    assert run("default") == ["False", "False"]  # glibc's dynamic threshold: the heap's
    assert run("set") == ["True", "True", "False"]  # 1 MB and up mapped


def test_map_large_blocks_without_mallopt(monkeypatch):
    monkeypatch.setattr(malloc.ctypes, "CDLL", lambda name: object())
    assert malloc.map_large_blocks() is False
