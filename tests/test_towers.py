"""Tower replication: the same update whatever devices carry the towers."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

from conftest import ROOT

RUN = os.path.join(ROOT, "tests", "tower_run.py")


def run(out, *args, env=None, timeout=300):
    e = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    e.update(env or {})
    return subprocess.Popen([sys.executable, RUN, str(out)] + [str(a) for a in args], env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=300):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, err[-3000:]
    return out


def load(path):
    with np.load(path) as z:
        return int(z["replicas"]), [z[k] for k in sorted(z.files) if k.startswith("p")]


def assert_same(a, b):
    """Equal to float32 round-off: each array's norm-wise relative difference under 1e-6
    (only the order of summing the towers' gradients differs between placements)."""
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        rel = np.linalg.norm(x - y) / max(np.linalg.norm(x), 1e-12)
        assert rel <= 1e-6, "array %d differs by %g relative" % (i, rel)


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
        assert_same(base, params)
    # The updates did happen, with dropout on: parameters moved from their start.
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from tower_run import tiny_hparams
    from finetune_lm.model import init_value, param_shapes
    hp = tiny_hparams()
    start = [init_value(n, s, hp.seed) for n, s in param_shapes(hp).items()]
    assert all(np.max(np.abs(a - s)) > 1e-5 for a, s in zip(base, start))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
