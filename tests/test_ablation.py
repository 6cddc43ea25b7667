"""Table 5's and Figure 2 left's tables (training/ablation.py, tasks/ablation.py): the
paper's numbers as printed, the average as the paper computes it, MNLI's column, the
sweep's 14 points; reproduce --table5 without a --desc."""

import contextlib
import csv
import io
import json
import os
import sys

import numpy as np
import pytest

from helpers import error_line, file_stamps, mnli_folder, tiny_lm_dir, tiny_rte
from finetune_lm import reproduce
from finetune_lm.tasks import all_tasks
from finetune_lm.tasks.ablation import (FIGURE2_LEFT, SWEEP, TABLE5_COLUMNS, TABLE5_ROWS,
                                        TABLE5_SECOND)
from finetune_lm.training import ablation, fine_tune


def test_paper_rows_average_as_printed_and_columns_are_the_tasks_main_metrics():
    for name, _, avg, values in TABLE5_ROWS:
        # the printed Avg is the mean to 0.05 (74.65 -> 74.7, 59.925 -> 59.9, 75.025 -> 75.0)
        assert len(values) == 8 and np.mean(values) == pytest.approx(avg, abs=0.0501), name
    tasks = all_tasks()
    for d, key, _ in TABLE5_COLUMNS:
        assert tasks[d].main_metric.key == key, d
    assert set(TABLE5_SECOND.values()) <= set(tasks["mnli"].split_titles) | {"valid_mm"}
    assert SWEEP == (-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
    assert all(len(v["valid"]) == 14 for v in FIGURE2_LEFT.values())


def test_mnli_column_is_the_mean_of_m_and_mm_medians():
    results = [{"valid_accuracy": a, "valid_mm_accuracy": b}
               for a, b in ((80.0, 79.0), (82.0, 81.0), (84.0, 90.0))]
    assert ablation.column_value(results, "mnli", "accuracy") == pytest.approx((82.0 + 81.0) / 2)
    assert ablation.column_value(results, "rte", "accuracy") == pytest.approx(82.0)


def test_table5_average_only_with_all_eight_and_the_lstm_row_with_its_reason():
    full = TABLE5_ROWS[0][0]
    some = {full: {"cola": 40.0, "rte": 60.0}}
    md, text = ablation.table5(some)
    row = [l for l in md.splitlines() if l.startswith("| %s | this run" % full)][0]
    assert row == "| %s | this run (dev) |  | 40.0 |  |  |  |  |  |  | 60.0 |" % full
    assert "LSTM w/ aux LM | paper (test) | 69.1 | 30.3" in md and "never released" in md
    all8 = {full: {d: float(i) for i, (d, _, _) in enumerate(TABLE5_COLUMNS)}}
    md, text = ablation.table5(all8)
    assert "| %s | this run (dev) | 3.5 | 0.0 |" % full in md
    lines = text.splitlines()
    assert lines[0] == "row,source,avg,cola,sst2,mrpc,stsb,qqp,mnli,qnli,rte"
    assert lines[2] == "%s,measured,3.5,0.0,1.0,2.0,3.0,4.0,5.0,6.0,7.0" % full


def test_sweep_table_has_the_14_points_beside_the_paper():
    md, text = ablation.sweep_table("race", {-1: (50.0, 40.0), 12: (90.0, 59.5)})
    rows = text.splitlines()
    assert len(rows) == 15 and rows[1] == "0,-1,50.0,40.0,39.6" and rows[-1] == "13,12,90.0,59.5,60.1"
    assert rows[2] == "1,0,,,42.0"
    assert "read off the figure" in md


def test_best_train_is_read_at_the_best_dev_evaluation():
    log = [{"va_acc": 50.0, "tr_acc": 60.0}, {"va_acc": 55.0, "tr_acc": 70.0},
           {"va_acc": 55.0, "tr_acc": 80.0}, {"n_updates": 3}]
    assert ablation.best_train(log, "acc") == 70.0


def test_command_needs_a_desc_and_something_to_run(capsys):
    assert "--desc" in error_line(capsys, reproduce.main, ["--table5", "rte"])
    

def test_sweep_train_and_dev_are_the_medians_over_seeds(tmp_path):
    """Over an even number of seeds the train figure is the median (the mean of the two
    middle ones), as the dev figure, and both read the task's main metric."""
    from finetune_lm.tasks import get_task
    metric = get_task("mnli").main_metric
    results = []
    for i, (tr, va) in enumerate(((60.0, 40.0), (70.0, 45.0), (90.0, 50.0), (80.0, 55.0))):
        desc = "fig_seed%d" % i
        lines = [{"desc": desc}, {"tr_acc": tr - 5, "va_acc": va - 1}, {"tr_acc": tr, "va_acc": va}]
        (tmp_path / (desc + ".jsonl")).write_text("".join(json.dumps(l) + "\n" for l in lines))
        results.append({"desc": desc, "valid_accuracy": va})
    assert ablation.sweep_figures(results, metric, str(tmp_path)) == (75.0, 47.5)


def test_sweep_points_are_checked_and_kept_in_the_figures_order(capsys):
    args = reproduce.build_parser().parse_args(
        ["--desc", "d", "--sweep", "race", "mnli", "race", "--sweep_points", "2", "-1", "0", "2"])
    got = [(v.dataset, v.key, v.flags, v.tag) for v in ablation.variants(args)]
    assert got == [(d, k, {"n_transfer": k}, "transfer%d" % k)
                   for d in ("race", "mnli") for k in (-1, 0, 2)]
    assert len(ablation.variants(reproduce.build_parser().parse_args(
        ["--desc", "d", "--sweep", "race"]))) == 14
    allowed = " ".join(str(k) for k in SWEEP)
    assert error_line(capsys, reproduce.main, ["--desc", "d", "--sweep", "mnli", "--sweep_points",
                                               "1", "13", "-2"]) == (
        "error: --sweep_points 13 -2: expected values of --n_transfer among %s (Figure 2 left's "
        "14 points)" % allowed)
    assert error_line(capsys, reproduce.main, ["--desc", "d", "--table5", "rte", "--sweep_points",
                                               "1"]).startswith(
        "error: --sweep_points 1: expected --sweep TASK... beside it")
    assert error_line(capsys, reproduce.main, ["--desc", "d", "--dataset", "rte", "--sweep_points",
                                               "0"]).startswith(  # not a plain reproduce run
        "error: --sweep_points 0: expected --sweep TASK... beside it")
    assert error_line(capsys, reproduce.main, ["--desc", "d", "--dataset", "rte", "--data_root",
                                               "glue"]) == (
        "error: nothing to run: expected --table5 TASK... or --sweep TASK...")
    assert "--sweep_points K [K ...]" in reproduce.build_parser().format_help()


def tiny_inputs(root):
    """A 2-layer stand-in of the weights (released format, width 8, 16 positions) and a
    data root holding RTE (16 train rows) and MNLI (49) under `root`; the arguments
    every variant shares (one seed, two epochs of 1 (RTE) or 3 (MNLI) updates; the
    encoded inputs cached for the other variants of the task)."""
    params, _ = tiny_lm_dir(root / "params", n_ctx=16, n_embd=8, n_head=2, n_layer=2)
    mnli_folder(root, diagnostic=None)
    tiny_rte(root / "glue" / "RTE")
    return [str(a) for a in [
        "--params_dir", params, "--data_root", root / "glue", "--seeds", 0, "--n_batch", 16,
        "--n_gpu", 1, "--n_iter", 2, "--no_xla", "--cache_dir", root / "cache",
        "--log_dir", root / "log",
        "--save_dir", root / "save", "--submission_dir", root / "submission",
        "--results_dir", root / "results"]]


@pytest.fixture
def tiny_setup(tmp_path):
    return tiny_inputs(tmp_path)


def test_every_variant_is_checked_before_any_run(tiny_setup, tmp_path, capsys, monkeypatch):
    """A fault of the last variant (a missing data folder, a point beyond the weights'
    layers, a finished seed of other arguments) is refused before the first run, and
    the error names the variant."""
    started = []
    monkeypatch.setattr(fine_tune, "run", lambda args, cache=None: started.append(args.desc))
    missing = str(tmp_path / "glue" / "MNLI")
    os.rename(missing, missing + ".away")
    line = error_line(capsys, reproduce.main, tiny_setup + ["--desc", "abl", "--table5", "rte",
                                                            "mnli"])
    assert line.startswith("error: --table5 mnli, row 'Transformer w/ aux LM (full)': ")
    assert os.path.join(missing) in line
    os.rename(missing + ".away", missing)

    line = error_line(capsys, reproduce.main, tiny_setup + ["--desc", "fig", "--sweep", "mnli",
                                                            "--sweep_points", "-1", "0", "3"])
    assert line == ("error: --sweep mnli, point --n_transfer 3: --n_transfer 3 is more than the "
                    "2 layers of the weights in %s" % (tmp_path / "params"))

    result = tmp_path / "save" / "abl_rte_lm_coef0.0_seed0" / "result.json"
    result.parent.mkdir(parents=True)
    result.write_text(json.dumps({"args": {"lr": 1.0}}))
    line = error_line(capsys, reproduce.main, tiny_setup + ["--desc", "abl", "--table5", "rte"])
    assert line.startswith("error: --table5 rte, row 'Transformer w/o aux LM' (--lm_coef 0.0): "
                           "%s was made with other arguments (" % result)
    os.remove(str(result))
    if (tmp_path / "results").is_dir():  # made by the checks above
        (tmp_path / "results").rmdir()
    (tmp_path / "results").write_text("")
    line = error_line(capsys, reproduce.main, tiny_setup + ["--desc", "abl", "--table5", "rte"])
    assert line == ("error: --table5 rte, row 'Transformer w/ aux LM (full)': --results_dir %s is "
                    "a file; expected a folder to write into" % (tmp_path / "results"))
    assert started == []


E2E = ["--desc", "abl", "--table5", "rte", "--sweep", "mnli", "--sweep_points", "1"]


def run_main(argv):
    """reproduce.main(argv) in process: (exit status, stdout)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = reproduce.main(argv)
    return code, out.getvalue()


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """reproduce --table5 rte --sweep mnli --sweep_points 1 on the tiny model (four
    runs), then the same command again, without matplotlib; what each left."""
    root = tmp_path_factory.mktemp("ablation")
    argv = tiny_inputs(root) + E2E
    first = run_main(argv)
    tables = {name: read(root / "results" / name)
              for name in ("abl_table5.md", "abl_table5.csv", "abl_mnli_sweep.md",
                           "abl_mnli_sweep.csv")}
    stamps = file_stamps(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "matplotlib", None)
        again = run_main(argv)
    return {"root": root, "first": first, "again": again, "tables": tables, "stamps": stamps}


def results_of(root, desc):
    return json.loads(read(root / "save" / (desc + "_seed0") / "result.json"))


def log_of(root, desc):
    with open(str(root / "log" / (desc + "_seed0.jsonl"))) as f:
        return [json.loads(line) for line in f]


@pytest.mark.slow
def test_table5_end_to_end(e2e):
    """The measured rows are the runs' result.json figures (one seed: its own), beside
    the paper's rows as printed; no Avg with one task; each variant ran with its flags."""
    root, (code, out) = e2e["root"], e2e["first"]
    assert code == 0, out
    assert "reproduce: 4 variants checked: abl_rte_full, abl_rte_n_transfer-1, " \
           "abl_rte_lm_coef0.0, abl_mnli_transfer1" in out
    rows = list(csv.reader(io.StringIO(e2e["tables"]["abl_table5.csv"])))
    assert rows[0] == ["row", "source", "avg"] + list(ablation.TABLE5_TASKS)
    md = e2e["tables"]["abl_table5.md"]
    flags_of = {"full": {}, "n_transfer-1": {"n_transfer": -1}, "lm_coef0.0": {"lm_coef": 0.0}}
    for i, ((name, flags, avg, paper), tag) in enumerate(zip(TABLE5_ROWS, flags_of)):
        assert flags == flags_of[tag]
        assert rows[1 + 2 * i] == [name, "paper", repr(avg)] + [repr(v) for v in paper]
        assert "| %s | paper (test) | %.1f | %s |" % (name, avg, " | ".join(
            "%.1f" % v for v in paper)) in md
        result = results_of(root, "abl_rte_" + tag)
        measured = rows[2 + 2 * i]
        assert measured[:3] == [name, "measured", ""]  # Avg: not all 8 tasks
        assert measured[3:10] == [""] * 7 and float(measured[10]) == result["valid_accuracy"]
        assert "| %s | this run (dev) |  | %s | %.1f |" % (
            name, " | ".join([""] * 7), result["valid_accuracy"]) in md
        args = log_of(root, "abl_rte_" + tag)[0]
        assert (args["n_transfer"], args["lm_coef"]) == (flags.get("n_transfer", 2),
                                                         flags.get("lm_coef", 0.5))
        # The variant without pre-training is the same model: the weights' sizes.
        assert (args["n_embd"], args["n_head"], args["n_layer"], args["n_ctx"]) == (8, 2, 2, 16)
        assert args["data_dir"] == str(root / "glue" / "RTE") and args["seed"] == 0
        assert {k: args[k] for k in result["args"]} == result["args"]  # the same arguments
    lname, lavg, lpaper, why = ablation.LSTM_ROW
    assert rows[7] == [lname, "paper", repr(lavg)] + [repr(v) for v in lpaper] and len(rows) == 8
    assert "%s: %s." % (lname, why) in md


@pytest.mark.slow
def test_sweep_end_to_end(e2e):
    """The points run are filled in the figure's order, the others blank: dev is the
    run's best valid accuracy, train the log's tr_acc at the best va_acc."""
    root = e2e["root"]
    rows = list(csv.reader(io.StringIO(e2e["tables"]["abl_mnli_sweep.csv"])))
    assert rows[0] == ["point", "n_transfer", "train", "dev", "paper_dev_read_off_figure"]
    assert len(rows) == 15
    for i, (row, k) in enumerate(zip(rows[1:], SWEEP)):
        assert row[:2] == [str(i), str(k)] and float(row[4]) == FIGURE2_LEFT["mnli"]["valid"][i]
        if k != 1:
            assert row[2:4] == ["", ""], row
            continue
        log = log_of(root, "abl_mnli_transfer%d" % k)
        assert log[0]["n_transfer"] == k and log[0]["n_layer"] == 2
        evals = log[1:]
        assert len(evals) == 2  # one at each epoch's end
        best = evals[int(np.argmax([e["va_acc"] for e in evals]))]
        assert float(row[2]) == best["tr_acc"]
        assert float(row[3]) == results_of(root, "abl_mnli_transfer%d" % k)["valid_accuracy"]
        assert float(row[3]) == best["va_acc"]
    md = e2e["tables"]["abl_mnli_sweep.md"]
    assert "| 1 | 0 |  |  | 75.2 |" in md
    assert "| 2 | 1 | %.2f | %.2f | 74.7 |" % (float(rows[3][2]), float(rows[3][3])) in md
    png = root / "results" / "abl_mnli_sweep.png"
    try:
        import matplotlib  # noqa: F401
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    except ImportError:
        assert reproduce.PLOT_HINT in e2e["first"][1]


@pytest.mark.slow
def test_the_same_command_again_trains_nothing_and_writes_the_same_tables(e2e):
    code, out = e2e["again"]
    assert code == 0, out
    assert out.count("already finished") == 4 and "(1/1) as abl_" not in out
    assert reproduce.PLOT_HINT in out
    assert file_stamps(e2e["root"]) == e2e["stamps"]  # no log, checkpoint, submission written
    for name, text in e2e["tables"].items():
        assert read(e2e["root"] / "results" / name) == text, name
