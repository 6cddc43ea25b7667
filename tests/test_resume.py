"""Runs that survive: resume after SIGKILL, a finished run is not retrained, changed
arguments are refused, a diverging loss stops the run keeping its last good
checkpoint, and atomic writes leave the earlier file when interrupted.

The training tests use a tiny model (1 layer, 32 wide, context 24, no transfer) on
the real ROCStories files (FINETUNE_LM_DATA)."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import joblib
import numpy as np
import pytest

from helpers import ROOT, error_line, run_train, subprocess_env, with_cache
from finetune_lm import train
from finetune_lm.training import checkpoint, loop
from finetune_lm.util import files

TINY = ["--dataset", "rocstories", "--n_transfer", "-1", "--n_layer", "1", "--n_embd", "32",
        "--n_head", "2", "--n_ctx", "24", "--lm_coef", "0", "--n_batch", "16"]


def tiny(gpt1_dir, rocstories_dir, *more):
    return TINY + ["--params_dir", gpt1_dir, "--data_dir", rocstories_dir] + list(more)


def train_cmd(args):
    return [sys.executable, os.path.join(ROOT, "train.py")] + list(args)


def log_values(path):
    with open(path) as f:
        lines = [json.loads(line) for line in f]
    for line in lines:
        line.pop("time")
    return lines


def outputs(folder):
    """Everything a run leaves that must not depend on an interruption."""
    p, meta, arrays = checkpoint.read_checkpoint(str(folder / "save/rocstories/checkpoint"))
    for line in meta.pop("log"):
        assert json.loads(line)["time"] > 0
    return {
        "best": joblib.load(str(folder / "save/rocstories/best_params.jl")),
        "checkpoint": arrays,
        "meta": meta,
        "pointer": p,
        "log": log_values(str(folder / "log/rocstories.jsonl")),
        "submission": (folder / "submission/ROCStories.tsv").read_text(),
    }


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tmp_path, monkeypatch, capsys, gpt1_dir,
                                                  rocstories_subset):
    # 1024 stories: 16 updates of 4 x 16 an epoch, a checkpoint every 4; the kill, at the
    # first checkpoint, has 12 updates to land before the epoch's end. No XLA: what a
    # resume restores (parameters, Adam's slots, the data order, the dropout draws' step)
    # does not depend on the kernels, and XLA's compile would be a third of the test.
    args = with_cache(tiny(gpt1_dir, rocstories_subset(1024, 96), "--n_iter", "2",
                           "--save_every", "4", "--submit", "--analysis", "--no_xla"))
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    # Relative output folders: both runs record the same arguments.
    full = run_train(args, cwd=str(a), timeout=600)
    assert full.returncode == 0, full.stderr[-3000:]

    pointer = b / "save/rocstories/checkpoint/latest.json"
    proc = subprocess.Popen(train_cmd(args), cwd=str(b), env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if pointer.exists() and json.loads(pointer.read_text())["n_updates"] >= 4:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    killed_at = json.loads(pointer.read_text())
    assert not killed_at["finished"] and killed_at["batch"] > 0, killed_at  # mid-epoch

    with open(str(b / "log/rocstories.jsonl")) as f:
        started = json.loads(f.readline())["time"]
    resumed = run_train(args, cwd=str(b), timeout=600)
    with open(str(b / "log/rocstories.jsonl")) as f:
        assert json.loads(f.readline())["time"] == started  # continued, not restarted
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resume: run 'rocstories' from update %d" % killed_at["n_updates"] in resumed.stdout

    want, got = outputs(a), outputs(b)
    assert len(want["best"]) == len(got["best"])
    for x, y in zip(want["best"], got["best"]):
        np.testing.assert_array_equal(x, y)
    assert sorted(want["checkpoint"]) == sorted(got["checkpoint"])
    for k in want["checkpoint"]:
        np.testing.assert_array_equal(want["checkpoint"][k], got["checkpoint"][k], err_msg=k)
    assert want["meta"] == got["meta"]
    assert want["pointer"] == got["pointer"] and got["pointer"]["finished"]
    assert want["log"] == got["log"] and len(want["log"]) == 3  # args, 2 epochs
    assert want["submission"] == got["submission"]
    assert re.search(r"ROCStories Test Accuracy: +\d", resumed.stdout)
    assert (b / "log/rocstories").is_dir() and os.listdir(str(b / "log/rocstories"))

    # Started again (in this process, to save a start-up): no training, the analysis
    # again, nothing rewritten.
    monkeypatch.chdir(str(b))
    best = b / "save/rocstories/best_params.jl"
    mtime = best.stat().st_mtime_ns
    capsys.readouterr()
    assert train.main(args) == 0
    out = capsys.readouterr().out
    assert "already finished" in out and "not retraining" in out, out
    assert "ROCStories Test Accuracy" in out
    assert best.stat().st_mtime_ns == mtime

    # Other arguments: refused, naming the flags that differ.
    line = error_line(capsys, train.main, args + ["--lr", "0.001", "--seed", "7"])
    assert "--lr" in line and "--seed" in line and "--n_iter" not in line, line


@pytest.mark.slow
def test_divergence_stops_keeping_last_good_checkpoint(tmp_path, capsys, gpt1_dir,
                                                       rocstories_dir):
    # A genuine divergence: lr 1e30 blows the parameters up within a few updates.
    out = ["--log_dir", str(tmp_path / "log"), "--save_dir", str(tmp_path / "save"),
           "--submission_dir", str(tmp_path / "submission")]
    argv = tiny(gpt1_dir, rocstories_dir, "--n_iter", "1", "--save_every", "1", "--lr", "1e30",
                "--submit") + out
    line = error_line(capsys, train.main, argv)
    m = re.search(r"diverged at update (\d+)", line)
    assert m, line
    fault = int(m.group(1))
    assert fault >= 2
    ckpt_dir = str(tmp_path / "save/rocstories/checkpoint")
    assert ckpt_dir in line and "update %d" % (fault - 1) in line
    p, meta, arrays = checkpoint.read_checkpoint(ckpt_dir)
    assert p["n_updates"] == meta["n_updates"] == fault - 1 and not p["finished"]
    t = [v for k, v in arrays.items() if k.startswith("t/")]
    assert len(t) == 1 and float(t[0]) == fault - 1
    assert all(np.all(np.isfinite(a)) for a in arrays.values())
    assert sorted(os.listdir(ckpt_dir)) == sorted(
        ["latest.json", p["prefix"] + ".index", p["prefix"] + ".data-00000-of-00001"])


# -- atomic writes (no data needed) ---------------------------------------------------------

def boom(*args, **kwargs):
    raise OSError("killed between the temporary file and the rename")


def test_interrupted_atomic_write_keeps_earlier_file(tmp_path, monkeypatch):
    path = str(tmp_path / "out" / "file.txt")
    files.atomic_write(path, "first\n")
    jl = str(tmp_path / "out" / "best_params.jl")
    checkpoint.save_params(jl, [np.arange(3, dtype=np.float32)])
    logp = str(tmp_path / "out" / "run.jsonl")
    logger = loop.ResultLogger(logp, a=1)
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="killed"):
        files.atomic_write(path, "second, never complete\n")
    with pytest.raises(OSError, match="killed"):
        checkpoint.save_params(jl, [np.zeros(5, np.float32)])
    with pytest.raises(OSError, match="killed"):
        logger.log(n_updates=1)
    monkeypatch.undo()
    with open(path) as f:
        assert f.read() == "first\n"
    np.testing.assert_array_equal(joblib.load(jl)[0], np.arange(3, dtype=np.float32))
    with open(logp) as f:
        assert [json.loads(line)["a"] for line in f] == [1]
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["best_params.jl", "file.txt", "run.jsonl"]


def test_interrupted_checkpoint_keeps_earlier_one(tmp_path, monkeypatch):
    import tensorflow as tf

    from finetune_lm.model.hparams import HParams
    from finetune_lm.model.variables import param_shapes
    from finetune_lm.training.towers import TrainState

    hp = HParams(n_vocab=10, n_ctx=8, n_embd=8, n_head=2, n_layer=1, n_gpu=1, n_batch=2)
    state = TrainState(tf.distribute.get_strategy(), hp, param_shapes(hp))
    folder = str(tmp_path / "ckpt")
    ckpt = checkpoint.RunCheckpoint(folder, state)
    meta = {"args": {"x": 1}, "n_updates": 1, "epoch": 0, "batch": 1, "order": [1, 0],
            "rng": checkpoint.rng_state(), "best": 50.0, "log": ["{}"]}
    state.t.assign(1.0)
    ckpt.save(meta)
    first = state.get_params()
    for v in state.variables:
        v.assign(v + 1.0)
    state.t.assign(2.0)
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="killed"):
        ckpt.save(dict(meta, n_updates=2, best=60.0))
    monkeypatch.undo()
    assert checkpoint.RunCheckpoint.read_pointer(folder)["prefix"] == "ckpt-1"
    p, restored = ckpt.restore()
    assert restored["n_updates"] == 1 and restored["best"] == 50.0 and float(state.t) == 1.0
    for x, y in zip(first, state.get_params()):
        np.testing.assert_array_equal(x, y)
    # The next complete save removes the files of the one cut short.
    state.t.assign(3.0)
    ckpt.save(dict(meta, n_updates=3))
    assert sorted(os.listdir(folder)) == ["ckpt-3.data-00000-of-00001", "ckpt-3.index",
                                          "latest.json"]
