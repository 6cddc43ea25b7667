"""train.py --submit --analysis end to end, one task per kind of input transformation,
on slices of the real files (tiny model, one epoch, the plain graph): classification
(CoLA), entailment (MNLI, three submission files), similarity (STS-B, soft targets and
float predictions), multiple choice (RACE, four options, middle / high)."""

import json
import os
import re
import shutil

import numpy as np
import pytest

from helpers import data_dir, mnli_folder, run_train
from finetune_lm import reproduce, train
from finetune_lm.tasks import get_task

TINY = ["--n_transfer", "-1", "--n_layer", "1", "--n_embd", "32", "--n_head", "2",
        "--n_iter", "1", "--n_gpu", "2", "--n_batch", "4", "--no_xla", "--submit", "--analysis"]
LINE = re.compile(r"^1 (\d+) (\d+\.\d{3}) (\d+\.\d{3}) (-?\d+\.\d{2}) (-?\d+\.\d{2})$")


def head_lines(src, dst, n, header=True):
    with open(src, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    with open(dst, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines[:n + (1 if header else 0)]) + "\n")


def run(tmp_path, capsys, dataset, data, *extra):
    out = tmp_path / "out"
    argv = ["--dataset", dataset, "--data_dir", str(data), "--params_dir", data_dir("gpt1"),
            "--log_dir", str(out / "log"), "--save_dir", str(out / "save"),
            "--submission_dir", str(out / "submission"), "--cache_dir", str(out / "cache")]
    assert train.main(argv + TINY + list(extra)) == 0, capsys.readouterr().err[-2000:]
    stdout = capsys.readouterr().out
    with open(str(out / "log" / (dataset + ".jsonl"))) as f:
        logs = [json.loads(line) for line in f]
    with open(str(out / "save" / dataset / "results.json")) as f:
        results = json.load(f)
    return out, stdout, logs, results


def read_tsv(path):
    with open(str(path), encoding="utf-8") as f:
        return [line.split("\t") for line in f.read().splitlines()]


def check_log(task, stdout, logs, n_train):
    main = task.main_metric.name
    assert logs[0]["dataset"] == task.name and logs[0]["model"]["n_seq"] == task.n_seq
    (e,) = logs[1:]
    assert e["n_updates"] == n_train // 8
    assert set(e) == {"n_epochs", "n_updates", "tr_cost", "va_cost", "time"} | {
        "%s_%s" % (s, m.name) for s in ("tr", "va") for m in task.metrics}
    printed = [m.groups() for m in map(LINE.match, stdout.splitlines()) if m]
    assert printed == [("%d" % e["n_updates"], "%.3f" % e["tr_cost"], "%.3f" % e["va_cost"],
                        "%.2f" % e["tr_" + main], "%.2f" % e["va_" + main])]
    assert "epoch updates tr_cost va_cost tr_%s va_%s" % (main, main) in stdout
    return e


@pytest.mark.slow
def test_classification_cola(tmp_path, capsys):
    src, d = data_dir("glue/CoLA"), tmp_path / "CoLA"
    d.mkdir()
    head_lines(os.path.join(src, "train.tsv"), str(d / "train.tsv"), 40, header=False)
    head_lines(os.path.join(src, "dev.tsv"), str(d / "dev.tsv"), 16, header=False)
    head_lines(os.path.join(src, "test.tsv"), str(d / "test.tsv"), 12)
    out, stdout, logs, results = run(tmp_path, capsys, "cola", d)
    task = get_task("cola")
    e = check_log(task, stdout, logs, 40)
    assert -100 <= e["va_mcc"] <= 100
    rows = read_tsv(out / "submission" / "CoLA.tsv")
    assert rows[0] == ["index", "prediction"] and len(rows) == 13
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(12)]  # the test file's index
    assert {r[1] for r in rows[1:]} <= {"0", "1"}
    assert "CoLA Valid Matthews corr: %.2f" % e["va_mcc"] in stdout
    assert results["figures"] == {"valid_matthews_corr": e["va_mcc"]}


@pytest.mark.slow
def test_entailment_mnli(tmp_path, capsys):
    d, train_rows, *_ = mnli_folder(tmp_path)
    out, stdout, logs, results = run(tmp_path, capsys, "mnli", d)
    task = get_task("mnli")
    check_log(task, stdout, logs, len(train_rows))  # 48 samples + a ragged row, less the header
    for name, n in (("MNLI-m.tsv", 5), ("MNLI-mm.tsv", 3), ("AX.tsv", 1104)):
        rows = read_tsv(out / "submission" / name)
        assert rows[0] == ["index", "prediction"] and len(rows) == n + 1, name
        assert {r[1] for r in rows[1:]} <= set(task.label_names), name
    assert "MNLI Valid mismatched Accuracy:" in stdout
    assert set(results["figures"]) == {"valid_accuracy", "valid_mm_accuracy"}


@pytest.mark.slow
def test_similarity_stsb(tmp_path, capsys):
    src, d = data_dir("glue/STS-B"), tmp_path / "STS-B"
    d.mkdir()
    for name, n in (("train.tsv", 40), ("dev.tsv", 16), ("test.tsv", 10)):
        head_lines(os.path.join(src, name), str(d / name), n)
    out, stdout, logs, results = run(tmp_path, capsys, "stsb", d)
    task = get_task("stsb")
    e = check_log(task, stdout, logs, 40)
    rows = read_tsv(out / "submission" / "STS-B.tsv")
    assert rows[0] == ["index", "prediction"] and len(rows) == 11
    for r in rows[1:]:
        assert re.match(r"^\d\.\d{3}$", r[1]) and 0 <= float(r[1]) <= 5
    assert "STS-B Valid Pearson: %.2f" % e["va_pearson"] in stdout


@pytest.mark.slow
def test_multiple_choice_race(tmp_path, capsys):
    src, d = data_dir("race"), tmp_path / "RACE"
    counts = {}
    for split, source, take in (("train", "dev", slice(0, 3)), ("dev", "dev", slice(3, 5)),
                                ("test", "test", slice(0, 2))):
        for level in ("middle", "high"):
            folder = d / split / level
            folder.mkdir(parents=True)
            names = sorted(os.listdir(os.path.join(src, source, level)),
                           key=lambda n: int(n.split(".")[0]))[take]
            for name in names:
                shutil.copy(os.path.join(src, source, level, name), str(folder / name))
                with open(os.path.join(src, source, level, name)) as f:
                    counts[split, level] = counts.get((split, level), 0) + len(
                        json.load(f)["questions"])
    out, stdout, logs, results = run(tmp_path, capsys, "race", d, "--n_ctx", "96")
    task = get_task("race")
    n_train = counts["train", "middle"] + counts["train", "high"]
    check_log(task, stdout, logs, n_train)
    assert logs[0]["model"]["n_ctx"] == 96  # the articles are cut to fit --n_ctx
    test = results["splits"]["test"]
    nm, nh = counts["test", "middle"], counts["test", "high"]
    # The whole test accuracy is the questions' mean over both levels.
    assert test["acc"] == pytest.approx((test["middle acc"] * nm + test["high acc"] * nh) / (nm + nh))
    for key in ("acc", "middle acc", "high acc"):
        assert any(("RACE Test%s Accuracy:" % ("" if key == "acc" else " " + key.split()[0])) in
                   line and line.endswith("%.2f" % test[key]) for line in stdout.splitlines())
    # Public labels: no submission file.
    assert not [f for _, _, files in os.walk(str(out / "submission")) for f in files]
    assert results["figures"]["test_accuracy"] == test["acc"]
    assert set(np.round(np.array([test["middle acc"] * nm, test["high acc"] * nh]) / 100, 6)) <= set(
        np.round(np.arange(0, 200), 6))


def outputs(folder):
    """The files a run left under `folder`, but the run's lock (save/<desc>/.lock: empty
    once the run ends, however it ends)."""
    return [os.path.join(root, f) for root, _, files in os.walk(str(folder)) for f in files
            if not (f == ".lock" and os.path.getsize(os.path.join(root, f)) == 0)]


def test_bad_row_is_one_error_line_and_writes_nothing(tmp_path, capsys):
    src, d = data_dir("glue/RTE"), tmp_path / "RTE"
    d.mkdir()
    for name, n in (("train.tsv", 20), ("dev.tsv", 8), ("test.tsv", 8)):
        head_lines(os.path.join(src, name), str(d / name), n)
    with open(str(d / "dev.tsv"), "a", encoding="utf-8") as f:
        f.write("9\tA premise.\tA hypothesis.\tmaybe\n")
    out = tmp_path / "out"
    argv = ["--dataset", "rte", "--data_dir", str(d), "--params_dir", data_dir("gpt1"),
            "--log_dir", str(out / "log"), "--save_dir", str(out / "save"),
            "--submission_dir", str(out / "submission"), "--cache_dir", ""]
    assert train.main(argv + TINY) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert "dev.tsv, line 10" in err[0] and "'maybe'" in err[0] and "not_entailment" in err[0]
    assert not outputs(out)
    # More examples per update than the training set holds: refused, not 0 updates.
    (d / "dev.tsv").write_text((d / "dev.tsv").read_text().rsplit("9\t", 1)[0])
    assert train.main(argv + TINY + ["--n_batch", "2000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--n_batch 2000" in err[0] and "20" in err[0]
    assert not outputs(out)


def test_reproduce_table_for_a_task_without_public_test_labels(tmp_path):
    task = get_task("mrpc")
    results = [{"seed": s, "desc": "mrpc_seed%d" % s, "valid_f1": v}
               for s, v in ((42, 80.0), (43, 84.0), (44, 82.0))]
    csv_path, md_path = reproduce.write_table(results, "mrpc", str(tmp_path), task)
    rows = read_tsv(csv_path)  # a CSV: one field per line here
    text = open(md_path).read()
    assert rows[0] == ["seed,desc,valid_f1,test (no public labels: GLUE server)"]
    assert "| median | 82.00 |  |" in text and "82.3" in text
    assert reproduce.summary(results, task)["median"] == (82.0, None)
    roc = get_task("rocstories")
    assert reproduce.columns(roc) == ("valid_accuracy", "test_accuracy", "test Accuracy")
    assert [r[0] for r in reproduce.paper_rows(roc)] == ["paper", "original_median"]


@pytest.mark.slow
def test_two_devices_with_xla_soft_targets(tmp_path):
    """Towers on 2 logical CPUs, compiled by XLA, with STS-B's soft targets: training and
    prediction across replicas (a subprocess: the CPU is split before TF starts)."""
    src, d = data_dir("glue/STS-B"), tmp_path / "STS-B"
    d.mkdir()
    for name, n in (("train.tsv", 24), ("dev.tsv", 12), ("test.tsv", 10)):
        head_lines(os.path.join(src, name), str(d / name), n)
    args = ["--dataset", "stsb", "--data_dir", str(d), "--params_dir", data_dir("gpt1"),
            "--cpu_devices", "2"] + [a for a in TINY if a != "--no_xla"]
    proc = run_train(args, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "on 2 devices" in proc.stdout and "STS-B Valid Pearson:" in proc.stdout
    rows = read_tsv(tmp_path / "submission" / "STS-B.tsv")
    assert len(rows) == 11 and all(0 <= float(r[1]) <= 5 for r in rows[1:])
