"""python -m finetune_lm.reproduce: one run per seed, the table with its statistics and
the plot; started again it trains nothing; every seed checked before the first trains.
Tiny model on the real ROCStories files."""

import csv
import json
import os
import sys

import numpy as np
import pytest

from helpers import error_line, file_stamps
from finetune_lm import reproduce
from finetune_lm.training import fine_tune
from finetune_lm.training.analysis import read_submission
from finetune_lm.tasks.rocstories import ROC_TEST, _rocstories

TINY = ["--dataset", "rocstories", "--n_transfer", "-1", "--n_layer", "1", "--n_embd", "32",
        "--n_head", "2", "--n_ctx", "24", "--lm_coef", "0", "--n_batch", "16", "--n_iter", "1"]


@pytest.mark.slow
def test_reproduce_two_seeds(tmp_path, capsys, monkeypatch, gpt1_dir, rocstories_subset):
    rocstories_dir = rocstories_subset(96, 96)  # short runs
    argv = TINY + ["--params_dir", gpt1_dir, "--data_dir", rocstories_dir, "--seeds", "42", "43",
                   "--log_dir", str(tmp_path / "log"), "--save_dir", str(tmp_path / "save"),
                   "--submission_dir", str(tmp_path / "submission")]
    assert reproduce.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("ROCStories Test Accuracy") == 2

    labels = np.asarray(_rocstories(os.path.join(rocstories_dir, ROC_TEST))[3])
    runs = []
    for seed in (42, 43):
        desc = "rocstories_seed%d" % seed
        sub = tmp_path / "submission" / desc / "ROCStories.tsv"
        test = float(np.mean(np.asarray(read_submission(str(sub))) == labels) * 100.)
        with open(str(tmp_path / "log" / (desc + ".jsonl"))) as f:
            logs = [json.loads(line) for line in f]
        assert logs[0]["seed"] == seed and logs[0]["desc"] == desc and logs[0]["analysis"]
        valid = max(log["va_acc"] for log in logs[1:])
        with open(str(tmp_path / "save" / desc / "result.json")) as f:
            result = json.load(f)
        assert result["test_accuracy"] == pytest.approx(test)
        assert result["valid_accuracy"] == pytest.approx(valid)
        runs.append((seed, desc, valid, test))

    with open(str(tmp_path / "log" / "rocstories_reproduce.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["seed"]), r["desc"]) for r in rows[:2]] == [(s, d) for s, d, _, _ in runs]
    for r, (_, _, va, te) in zip(rows, runs):
        assert float(r["valid_accuracy"]) == pytest.approx(va)
        assert float(r["test_accuracy"]) == pytest.approx(te)
    stats = {r["seed"]: r for r in rows[2:]}
    va = np.array([v for _, _, v, _ in runs])
    te = np.array([t for _, _, _, t in runs])
    for name, f in (("median", np.median), ("mean", np.mean), ("min", np.min), ("max", np.max),
                    ("std", lambda a: np.std(a, ddof=1))):
        assert float(stats[name]["valid_accuracy"]) == pytest.approx(f(va)), name
        assert float(stats[name]["test_accuracy"]) == pytest.approx(f(te)), name
    assert float(stats["paper"]["test_accuracy"]) == 86.5
    assert float(stats["original_median"]["test_accuracy"]) == 85.8
    md = (tmp_path / "log" / "rocstories_reproduce.md").read_text()
    assert "86.5" in md and "85.8" in md and "| median | %.2f | %.2f |" % (
        np.median(va), np.median(te)) in md
    png = tmp_path / "log" / "rocstories_reproduce.png"
    try:
        import matplotlib  # noqa: F401
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    except ImportError:
        assert "pip install -e .[plot]" in out

    # TensorBoard scalars beside the jsonl log.
    import tensorflow as tf
    events = [str(p) for p in (tmp_path / "log" / "rocstories_seed42").iterdir()]
    tags = {v.tag for f in events for e in tf.compat.v1.train.summary_iterator(f)
            for v in e.summary.value}
    assert {"learning_rate", "grad_norm", "train/cost", "valid/cost", "train/accuracy",
            "valid/accuracy"} <= tags

    # Started again, without matplotlib: nothing trained or rewritten, the table again,
    # and how to get the plot.
    before = file_stamps(tmp_path, skip=["rocstories_reproduce."])
    os.remove(str(tmp_path / "log" / "rocstories_reproduce.csv"))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    # Not trained again: a call of the training would fail the test.
    monkeypatch.setattr(fine_tune, "run", lambda *a, **k: pytest.fail("a finished seed ran"))
    assert reproduce.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("already finished") == 2 and "ROCStories Test Accuracy" not in out
    assert "pip install -e .[plot]" in out
    assert file_stamps(tmp_path, skip=["rocstories_reproduce."]) == before
    assert (tmp_path / "log" / "rocstories_reproduce.csv").exists()


def test_every_seed_is_checked_before_the_first_run(tmp_path, capsys, monkeypatch, gpt1_dir,
                                                    rocstories_dir):
    """A bad seed of --seeds, or a finished seed of other arguments, is refused before
    the first seed trains."""
    started = []
    monkeypatch.setattr(fine_tune, "run", lambda args, cache=None: started.append(args.desc))
    argv = TINY + ["--params_dir", gpt1_dir, "--data_dir", rocstories_dir,
                   "--log_dir", str(tmp_path / "log"), "--save_dir", str(tmp_path / "save")]
    assert error_line(capsys, reproduce.main, argv + ["--seeds", "42", "-1"]) == (
        "error: --seed -1: expected 0 .. 2**32 - 1 (4294967295), the seeds numpy's generator "
        "takes")
    result = tmp_path / "save" / "rocstories_seed43" / "result.json"
    result.parent.mkdir(parents=True)
    result.write_text(json.dumps({"args": {"lr": 1.0}}))
    assert error_line(capsys, reproduce.main, argv + ["--seeds", "42", "43"]).startswith(
        "error: %s was made with other arguments (" % result)
    assert started == []
