"""train.py end to end on the real ROCStories files, cut to their first stories
(conftest.rocstories_subset: a short run), with a tiny model (no weight shards). Every
test runs train.py in a subprocess: slow."""

import json
import os
import re

import joblib
import numpy as np
import pytest

from helpers import run_train

pytestmark = pytest.mark.slow

TINY = ["--dataset", "rocstories", "--n_transfer", "-1", "--n_layer", "2", "--n_embd", "32",
        "--n_head", "4", "--n_ctx", "24"]
LINE = re.compile(r"^(\d+) (\d+) (\d+\.\d{3}) (\d+\.\d{3}) (\d+\.\d{2}) (\d+\.\d{2})$")


def tiny_run(tmp, gpt1_dir, rocstories_dir, *extra, desc="tiny"):
    args = TINY + ["--desc", desc, "--data_dir", rocstories_dir, "--params_dir", gpt1_dir,
                   "--log_dir", os.path.join(tmp, "log"), "--save_dir", os.path.join(tmp, "save"),
                   "--submission_dir", os.path.join(tmp, "submission")] + list(extra)
    proc = run_train(args, cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def read_log(tmp, desc="tiny"):
    with open(os.path.join(tmp, "log", desc + ".jsonl")) as f:
        return [json.loads(line) for line in f]


def read_submission(tmp):
    with open(os.path.join(tmp, "submission", "ROCStories.tsv")) as f:
        return f.read().splitlines()


# The e2e run's data: 374 validation stories, N_TRAIN to train on (at least 374: the
# training accuracy is measured on the first 374, as the original did), N_TEST to predict.
N_TRAIN, N_TEST = 384, 96


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, request):
    gpt1 = request.getfixturevalue("gpt1_dir")
    roc = request.getfixturevalue("rocstories_subset")(N_TRAIN, N_TEST)
    tmp = str(tmp_path_factory.mktemp("e2e"))
    proc = tiny_run(tmp, gpt1, roc, "--n_iter", "2", "--submit", "--analysis")
    return tmp, proc, roc


def test_log_lines(e2e):
    tmp, proc, _ = e2e
    logs = read_log(tmp)
    assert logs[0]["desc"] == "tiny" and logs[0]["dataset"] == "rocstories"
    assert logs[0]["n_iter"] == 2 and logs[0]["seed"] == 42 and "time" in logs[0]
    # 384 // 32 = 12 updates per epoch; one evaluation per epoch end.
    evals = logs[1:]
    assert [(e["n_epochs"], e["n_updates"]) for e in evals] == [(1, 12), (2, 24)]
    printed = [m.groups() for m in map(LINE.match, proc.stdout.splitlines()) if m]
    assert len(printed) == 2
    for e, p in zip(evals, printed):
        assert set(e) == {"n_epochs", "n_updates", "tr_cost", "va_cost", "tr_acc", "va_acc", "time"}
        assert p == ("%d" % e["n_epochs"], "%d" % e["n_updates"], "%.3f" % e["tr_cost"],
                     "%.3f" % e["va_cost"], "%.2f" % e["tr_acc"], "%.2f" % e["va_acc"])
        # Accuracies over 374 examples are multiples of 100/374; costs are mean clf losses.
        assert abs(e["va_acc"] * 374 / 100 - round(e["va_acc"] * 374 / 100)) < 1e-6
        assert abs(e["tr_acc"] * 374 / 100 - round(e["tr_acc"] * 374 / 100)) < 1e-6
        assert 0.5 < e["tr_cost"] < 1.0 and 0.5 < e["va_cost"] < 1.0


def test_checkpoint_arrays(e2e):
    tmp, _, _ = e2e
    from finetune_lm.model.hparams import HParams
    from finetune_lm.training.objectives import FineTuning
    arrays = joblib.load(os.path.join(tmp, "save", "tiny", "best_params.jl"))
    # n_ctx 24 -> max_len 10 -> the longest sequence is 10 + 10 + 3 = 23 tokens.
    hp = HParams(n_ctx=23, n_embd=32, n_head=4, n_layer=2, head="choice", n_seq=2)
    shapes = FineTuning(hp).param_shapes()  # the transformer's, then the head's
    assert isinstance(arrays, list) and len(arrays) == 1 + 12 * 2 + 2
    assert [list(a.shape) for a in arrays] == list(shapes.values())
    assert all(a.dtype == np.float32 for a in arrays)


def test_submission_and_accuracies(e2e):
    tmp, proc, roc = e2e
    rows = read_submission(tmp)
    assert rows[0] == "index\tprediction" and len(rows) == 1 + N_TEST
    preds = []
    for i, row in enumerate(rows[1:]):
        index, pred = row.split("\t")
        assert int(index) == i and pred in ("0", "1")
        preds.append(int(pred))
    from finetune_lm.tasks.rocstories import ROC_TEST, _rocstories
    labels = _rocstories(os.path.join(roc, ROC_TEST))[3]
    test_acc = 100.0 * np.mean(np.asarray(preds) == np.asarray(labels))
    best_valid = max(e["va_acc"] for e in read_log(tmp)[1:])
    assert "ROCStories Valid Accuracy: %.2f" % best_valid in proc.stdout
    assert "ROCStories Test Accuracy:  %.2f" % test_acc in proc.stdout


def _outputs(tmp):
    logs = [{k: v for k, v in e.items() if k != "time"} for e in read_log(tmp)[1:]]
    arrays = joblib.load(os.path.join(tmp, "save", "tiny", "best_params.jl"))
    return logs, arrays, read_submission(tmp)


def test_seeded_runs_repeat_exactly(tmp_path, gpt1_dir, rocstories_subset):
    """The same command twice: identical log values, checkpoint and submission;
    another seed: different ones. (--lm_coef 0 and 96 stories keep the runs short.)"""
    outs = {}
    roc = rocstories_subset(96, 96)
    for name, seed in (("a", 42), ("b", 42), ("c", 43)):
        tmp = str(tmp_path / name)
        os.makedirs(tmp)
        tiny_run(tmp, gpt1_dir, roc, "--n_iter", "1", "--lm_coef", "0", "--submit",
                 "--seed", str(seed))
        outs[name] = _outputs(tmp)
    (la, pa, sa), (lb, pb, sb), (lc, pc, _) = outs["a"], outs["b"], outs["c"]
    assert la == lb and sa == sb
    assert all(np.array_equal(x, y) for x, y in zip(pa, pb))
    assert la != lc
    assert not all(np.array_equal(x, y) for x, y in zip(pa, pc))
