"""Table 5's and Figure 2 left's tables (training/ablation.py, tasks/ablation.py): the
paper's numbers as printed, the average as the paper computes it, MNLI's column, the
sweep's 14 points; reproduce --table5 without a --desc."""

import contextlib
import csv
import io
import json
import os

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
    assert "--sweep_points K [K ...]" in reproduce.build_parser().format_help()


@pytest.fixture
def tiny_setup(tmp_path):
    """A 2-layer stand-in of the weights and a data root holding RTE and MNLI; the
    arguments every variant shares."""
    params, _ = tiny_lm_dir(tmp_path / "params", n_ctx=16, n_embd=8, n_head=2, n_layer=2)
    mnli_folder(tmp_path, diagnostic=None)
    tiny_rte(tmp_path / "glue" / "RTE")
    return ["--params_dir", params, "--data_root", tmp_path / "glue", "--seeds", 0,
            "--n_batch", 8, "--n_gpu", 1, "--n_iter", 1, "--no_xla", "--cache_dir", "",
            "--log_dir", tmp_path / "log", "--save_dir", tmp_path / "save",
            "--submission_dir", tmp_path / "submission", "--results_dir", tmp_path / "results"]


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
    assert started == []
