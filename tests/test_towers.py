"""Tower replication: the same update whatever devices carry the towers.

Each run is tests/tower_run.py in its own process (devices are configured before
TensorFlow starts); it saves what the checks below read, so this file imports no
other test file."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, subprocess_env

RUN = os.path.join(ROOT, "tests", "tower_run.py")


def run(out, *args, env=None):
    return subprocess.Popen([sys.executable, RUN, str(out)] + [str(a) for a in args],
                            env=subprocess_env(**(env or {})),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=300):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, err[-3000:]
    return out


def load(path, prefix="p"):
    """(replicas, arrays): the parameters after the updates (prefix "p") or before
    them ("s"), in checkpoint order."""
    with np.load(path) as z:
        return int(z["replicas"]), [z[k] for k in sorted(z.files) if k.startswith(prefix)]


def names(path):
    """The variables' names, in checkpoint order."""
    with np.load(path) as z:
        return [str(n) for n in z["names"]]


def assert_same(a, b):
    """Equal to float32 round-off: each array's norm-wise relative difference under 1e-6
    (only the order of summing the towers' gradients differs between placements)."""
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        rel = np.linalg.norm(x - y) / max(np.linalg.norm(x), 1e-12)
        assert rel <= 1e-6, "array %d differs by %g relative" % (i, rel)


def choice_softmax(w, b, seed=0):
    """The multiple-choice head's softmax over 2 choices of pooled @ w + b, for fixed
    random pooled states."""
    pooled = np.random.default_rng(seed).standard_normal((16, 2, w.shape[0]), np.float32)
    logits = (pooled @ w)[..., 0] + b
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def assert_same_update(names, a, b):
    """assert_same for every array but the multiple-choice head's bias `model/clf/b`.

    That bias is added to every choice alike, so it cancels in the softmax over the
    choices: its gradient is zero up to round-off, and Adam scales that round-off up
    to steps of the size of the learning rate, so its value is noise that depends on
    the summation order (on AVX-512 it differs by percents between placements). What
    matters is its effect on the outputs: the softmax over the choices with either
    run's bias is the same up to round-off."""
    assert len(names) == len(a) == len(b) and names[-2:] == ["model/clf/w", "model/clf/b"]
    assert_same(a[:-1], b[:-1])  # clf/w and everything else
    for w_a, w_b in ((a[-2], a[-2]), (a[-2], b[-2])):
        np.testing.assert_allclose(choice_softmax(w_a, a[-1]), choice_softmax(w_b, b[-1]),
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_four_towers_same_on_1_2_4_devices(tmp_path):
    procs = {n: run(tmp_path / ("d%d.npz" % n), "--cpu_devices", 4, "--max_devices", n)
             for n in (1, 2, 4)}
    single = run(tmp_path / "single.npz")  # no split: the single-device code path
    for p in list(procs.values()) + [single]:
        finish(p)
    reps, base = load(tmp_path / "single.npz")
    assert reps == 1
    for n in (1, 2, 4):
        r, params = load(tmp_path / ("d%d.npz" % n))
        assert r == n
        assert_same_update(names(tmp_path / "single.npz"), base, params)
    # The updates did happen, with dropout on: parameters moved from their start.
    _, start = load(tmp_path / "single.npz", "s")
    assert len(start) == len(base)
    assert all(np.max(np.abs(a - s)) > 1e-5 for a, s in zip(base, start))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_workers_match_one_worker(tmp_path):
    ports = [free_port(), free_port()]
    cluster = {"worker": ["127.0.0.1:%d" % p for p in ports]}
    procs = [run(tmp_path / "mw.npz", "--n_gpu", 4,
                 env={"TF_CONFIG": json.dumps({"cluster": cluster,
                                               "task": {"type": "worker", "index": i}})})
             for i in range(2)]
    one = run(tmp_path / "one.npz", "--cpu_devices", 2, "--max_devices", 2)
    for p in procs + [one]:
        finish(p, timeout=240)
    r1, base = load(tmp_path / "one.npz")
    assert r1 == 2
    for i in range(2):
        r, params = load(tmp_path / ("mw.%d.npz" % i))
        assert r == 2
        assert_same(base, params)
