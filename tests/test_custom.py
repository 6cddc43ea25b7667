"""Your own data (`--dataset custom`, tasks/custom.py) and your own task file
(`--task_file`, tasks/task_file.py): files written by the tests, each transformation,
string, integer and float labels, with and without a valid file, every bad input's
one `error:` line, and one whole run of several transformations (slow)."""

import csv
import json
import os

import numpy as np
import pytest

import finetune_lm.tasks
from helpers import data_dir, error_line
from finetune_lm import export, predict, reproduce, train
from finetune_lm.tasks import custom, task_for_args, task_for_run
from finetune_lm.train_rows import argv_of, fine_tune_rows
from finetune_lm.util.errors import UserError

WORDS = "good bad fine awful great poor nice dull".split()


@pytest.fixture(autouse=True)
def own_table(monkeypatch):
    """A task built here goes into a copy of the table, not the session's."""
    monkeypatch.setattr(finetune_lm.tasks, "_TABLE", dict(finetune_lm.tasks.all_tasks()))


def write(path, header, rows, fmt=None):
    """rows: lists of values in header order, written as CSV, TSV or JSON lines."""
    fmt = fmt or custom.FORMATS[os.path.splitext(str(path))[1]]
    with open(str(path), "w", encoding="utf-8", newline="") as f:
        if fmt == "csv":
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
        elif fmt == "tsv":
            for row in [header] + list(rows):
                f.write("\t".join(str(v) for v in row) + "\n")
        else:
            for row in rows:
                f.write(json.dumps(dict(zip(header, row))) + "\n")
    return str(path)


def sentiment(n, seed=0, label=lambda i, w: "pos" if WORDS.index(w) % 2 == 0 else "neg"):
    rng = np.random.RandomState(seed)
    rows = []
    for i in range(n):
        w = WORDS[rng.randint(len(WORDS))]
        rows.append([str(i), "it was %s" % w, "so %s" % WORDS[rng.randint(len(WORDS))],
                     label(i, w)])
    return rows


def parse(*argv):
    return train.build_parser().parse_args([str(a) for a in argv])


def task_of(*argv):
    return task_for_args(parse("--dataset", "custom", *argv))


def flags(train_file, *extra):
    return ["--train_file", train_file] + list(extra)


# -- the transformations, the labels, the held-out share -------------------------------

def test_one_text_field_is_classification_string_labels_sorted(tmp_path):
    path = write(tmp_path / "t.csv", ["id", "text", "other", "label"], sentiment(30))
    task = task_of(*flags(path, "--text_fields", "text", "--label_field", "label"))
    assert (task.name, task.head, task.n_seq, task.n_out) == ("custom", "linear", 1, 2)
    assert task.label_names == ("neg", "pos")
    assert [m.name for m in task.metrics] == ["acc", "f1", "mcc"]
    assert task.spec["input"] == "classification" and task.spec["input_inferred"]
    assert task.about.startswith("input classification (inferred from 1 text field): "
                                 "classification of text; label label: 2 classes: neg, pos;")
    splits = task.load("ignored")
    assert (len(splits["train"]), len(splits["valid"])) == (27, 3)
    tr, va = custom.held_out(30, 0.1, custom.SPLIT_SEED)
    assert splits["valid"].index == list(va) and splits["train"].index == list(tr)
    assert sorted(list(tr) + list(va)) == list(range(30))
    rows = sentiment(30)
    assert splits["valid"].texts["text"] == [rows[i][1] for i in va]
    assert splits["valid"].labels.tolist() == [["neg", "pos"].index(rows[i][3]) for i in va]
    # The same seed, the same rows; another seed, others.
    assert task_of(*flags(path, "--text_fields", "text", "--label_field", "label")
                   ).load("")["valid"].index == list(va)
    other = task_of(*flags(path, "--text_fields", "text", "--label_field", "label",
                           "--split_seed", "7")).load("")["valid"].index
    assert other != list(va) and len(other) == 3


def test_two_fields_entailment_integer_classes_in_numeric_order(tmp_path):
    rows = sentiment(20, label=lambda i, w: str([2, 10, 1][i % 3]))
    train_file = write(tmp_path / "t.tsv", ["id", "text", "other", "label"], rows)
    valid = write(tmp_path / "v.tsv", ["id", "text", "other", "label"], rows[:5])
    task = task_of(*flags(train_file, "--valid_file", valid, "--text_fields", "text,other",
                          "--label_field", "label", "--metric", "accuracy"))
    assert (task.head, task.n_seq, task.n_out, task.label_names) == ("linear", 1, 3,
                                                                     ("1", "2", "10"))
    assert [m.name for m in task.metrics] == ["acc"]
    splits = task.load("")
    assert (len(splits["train"]), len(splits["valid"])) == (20, 5)
    assert splits["valid"].labels.tolist() == [1, 2, 0, 1, 2]
    specials = (100, 101, 102)
    assert task.transform({"text": [1, 2], "other": [3]}, specials, 16) == [[100, 1, 2, 101, 3, 102]]


def test_similarity_float_labels_regression_jsonl(tmp_path):
    rows = [["a %s" % w, "b %s" % w, 0.5 * i] for i, w in enumerate(WORDS * 2)]
    path = write(tmp_path / "s.jsonl", ["s1", "s2", "score"], rows)
    task = task_of(*flags(path, "--text_fields", "s1,s2", "--label_field", "score",
                          "--input", "similarity", "--metric", "spearman"))
    assert (task.head, task.n_seq, task.n_out, task.label_names) == ("pair_sum", 2, 1, None)
    assert [m.name for m in task.metrics] == ["spearman", "pearson"]
    assert task.spec["labels"] == "regression" and not task.spec["input_inferred"]
    assert task.transform({"s1": [1], "s2": [2, 3]}, (7, 8, 9), 16) == [
        [7, 1, 8, 2, 3, 9], [7, 2, 3, 8, 1, 9]]
    splits = task.load("")
    assert splits["train"].labels.dtype == np.float32
    np.testing.assert_array_equal(task.target_array(splits["train"].labels),
                                  splits["train"].labels)
    assert task.predictions(np.array([[1.5], [2.0]])).tolist() == [1.5, 2.0]
    assert task.prediction_strings(np.array([1.5, 2.25], np.float32)) == ["1.500", "2.250"]


def test_choice_label_index_or_option_text(tmp_path):
    header = ["story", "question", "o0", "o1", "o2", "answer"]
    rows = [["s%d" % i, "q%d" % i, "x%d" % i, "y%d" % i, "z%d" % i,
             ["1", "y%d" % i, "0", "z%d" % i][i % 4]] for i in range(12)]
    path = write(tmp_path / "c.csv", header, rows)
    task = task_of(*flags(path, "--text_fields", "story,question", "--choice_fields",
                          "o0,o1,o2", "--label_field", "answer"))
    assert (task.head, task.n_seq, task.n_out, task.label_names) == ("choice", 3, 1, None)
    assert task.spec["input"] == "choice" and [m.name for m in task.metrics] == ["acc"]
    splits = task.load("")
    labels = dict(zip(splits["train"].texts["story"] + splits["valid"].texts["story"],
                      splits["train"].labels.tolist() + splits["valid"].labels.tolist()))
    assert [labels["s%d" % i] for i in range(12)] == [[1, 1, 0, 2][i % 4] for i in range(12)]
    ids = {"story": [1, 2], "question": [3], "o0": [4], "o1": [5], "o2": [6]}
    assert task.transform(ids, (7, 8, 9), 16)[2] == [7, 1, 2, 3, 8, 6, 9]


def test_test_file_ids_and_labels_make_the_submission_and_the_analysis(tmp_path):
    header = ["id", "text", "other", "label"]
    train_file = write(tmp_path / "t.csv", header, sentiment(20))
    test = write(tmp_path / "test.csv", ["id", "text"], [["a7", "it was good"], ["b", "dull"]])
    task = task_of(*flags(train_file, "--test_file", test, "--text_fields", "text",
                          "--label_field", "label"))
    assert [(s.split, s.filename) for s in task.submissions] == [("test", "custom_test.tsv")]
    assert task.analysis == ()
    split = task.load("")["test"]
    assert (split.index, split.labels) == (["a7", "b"], None)
    labelled = write(tmp_path / "test2.csv", header, sentiment(4, seed=3))
    task = task_of(*flags(train_file, "--test_file", labelled, "--text_fields", "text",
                          "--label_field", "label", "--id_field", "other"))
    assert task.analysis == ("test",)
    split = task.load("")["test"]
    assert split.index == [r[2] for r in sentiment(4, seed=3)]
    assert split.labels.tolist() == [["neg", "pos"].index(r[3]) for r in sentiment(4, seed=3)]


def test_the_spec_rebuilds_the_task_without_the_flags(tmp_path):
    path = write(tmp_path / "t.csv", ["id", "text", "other", "label"], sentiment(20))
    task = task_of(*flags(path, "--text_fields", "text,other", "--label_field", "label",
                          "--input", "similarity", "--valid_share", "0.25"))
    spec = json.loads(json.dumps(task.spec))  # as model.json holds it
    again = task_for_run({"task": "custom", "task_spec": spec})
    assert again.spec == task.spec and again.about == task.about
    assert (again.head, again.n_seq, again.label_names) == ("pair_sum", 2, ("neg", "pos"))
    a, b = task.load(""), again.load("")
    assert a["valid"].index == b["valid"].index and len(b["valid"]) == 5
    assert finetune_lm.tasks.get_task("custom") is again


def test_one_output_column_is_a_regression_with_squared_error():
    import tensorflow as tf
    from types import SimpleNamespace
    from finetune_lm.model import heads
    logits = tf.constant([[1.5], [-0.5]])
    for head in ("linear", "pair_sum"):
        hp = SimpleNamespace(head=head, n_out=1, soft_targets=False)
        assert heads.regression(hp)
        np.testing.assert_allclose(heads.loss(logits, np.array([1.0, 1.0], np.float32), hp),
                                   [0.25, 2.25])
    assert not heads.regression(SimpleNamespace(head="choice", n_out=1, soft_targets=False))
    assert not heads.regression(SimpleNamespace(head="linear", n_out=2, soft_targets=False))


# -- bad input: one error line naming file, line and column ----------------------------

def error(tmp_path, capsys, *argv):
    """train.py's error line for these flags (the checks stop before any weights)."""
    return error_line(capsys, train.main, ["--dataset", "custom", "--params_dir",
                                           data_dir("gpt1"), "--n_transfer", "-1",
                                           "--save_dir", str(tmp_path / "save"),
                                           "--log_dir", str(tmp_path / "log")] + list(argv))


def test_bad_files_each_one_error_line(tmp_path, capsys):
    header = ["id", "text", "other", "label"]
    ok = write(tmp_path / "ok.csv", header, sentiment(10))
    args = ("--text_fields", "text", "--label_field", "label")
    assert error(tmp_path, capsys, "--train_file", ok, "--text_fields", "txt",
                 "--label_field", "label") == (
        "error: %s, line 1: no field 'txt'; the header has 'id', 'text', 'other', 'label'" % ok)
    dup = write(tmp_path / "dup.csv", ["text", "label", "text"], [["a", "b", "c"]])
    assert error(tmp_path, capsys, "--train_file", dup, *args) == (
        "error: %s, line 1, column 3: the header names 'text' twice (columns 1 and 3); "
        "expected each field name once" % dup)
    rows = sentiment(10)
    rows[4][1] = "  "
    empty = write(tmp_path / "empty.csv", header, rows)
    assert error(tmp_path, capsys, "--train_file", empty, *args) == (
        "error: %s, line 6, column 2 (text): the text is empty; expected a text" % empty)
    valid = write(tmp_path / "v.csv", header, sentiment(3) + [["9", "it was", "x", "meh"]])
    assert error(tmp_path, capsys, "--train_file", ok, "--valid_file", valid, *args) == (
        "error: %s, line 5, column 4 (label): label 'meh' is not a class of the training file "
        "%s; expected one of neg, pos" % (valid, ok))
    one = write(tmp_path / "one.csv", header, sentiment(5, label=lambda i, w: "pos"))
    assert error(tmp_path, capsys, "--train_file", one, *args) == (
        "error: %s: every label is 'pos'; expected at least 2 classes (or floats, a "
        "regression)" % one)
    mixed = write(tmp_path / "mixed.csv", header, sentiment(5, label=lambda i, w: "1" if i
                                                            else "x"))
    assert error(tmp_path, capsys, "--train_file", mixed, *args) == (
        "error: %s, line 3, column 4 (label): label '1' is an integer, but %s, line 2, "
        "column 4 (label): label 'x' is a string; expected one type in the label column "
        "(--labels classes reads them all as class names)" % (mixed, mixed))
    reg = write(tmp_path / "reg.jsonl", ["text", "label"],
                [["a", 0.5], ["b", 1.5], ["c", "n/a"]])
    assert error(tmp_path, capsys, "--train_file", reg, *args) == (
        "error: %s, line 3, key 'label': label 'n/a' is not a number; expected a number, as "
        "the regression's labels are (floats from line 1)" % reg)
    choice = write(tmp_path / "ch.csv", ["q", "a", "b", "y"], [["q", "x", "z", "w"]] * 3)
    assert error(tmp_path, capsys, "--train_file", choice, "--text_fields", "q",
                 "--choice_fields", "a,b", "--label_field", "y") == (
        "error: %s, line 2, column 4 (y): label 'w' matches no option; expected an index "
        "0..1 or the text of one of a, b" % choice)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"text,label\ncaf\xe9,a\nb,c\n")
    assert error(tmp_path, capsys, "--train_file", latin, *args) == (
        "error: %s, line 2, column 4 (byte 14): not UTF-8 (b'\\xe9'); expected a UTF-8 text "
        "file" % latin)
    quoted = tmp_path / "quoted.tsv"
    quoted.write_text('text\tlabel\n"two\nlines"\tpos\nok\tneg\n', encoding="utf-8")
    assert error(tmp_path, capsys, "--train_file", quoted, *args) == (
        "error: %s, line 2: 1 fields, expected 2 as the header has (text, label) (a TSV is "
        "read without quotes: a quoted field with a newline or a tab? if the file is CSV, "
        "give --format csv)" % quoted)
    # A CSV's quoted field keeps its newline.
    (tmp_path / "quoted.csv").write_text('text,label\n"two\nlines",pos\nok,neg\n',
                                         encoding="utf-8")
    table = custom.read_table(str(tmp_path / "quoted.csv"), None)
    assert [row for _, row in table.rows] == [{"text": "two\nlines", "label": "pos"},
                                              {"text": "ok", "label": "neg"}]


def test_bad_flags(tmp_path, capsys):
    path = write(tmp_path / "t.csv", ["a", "b", "c", "label"], sentiment(10))
    assert error(tmp_path, capsys, "--train_file", path, "--text_fields", "a,b,c",
                 "--label_field", "label") == (
        "error: --text_fields names 3 fields (a, b, c): which transformation is ambiguous; "
        "expected 1 (classification) or 2 (entailment, or --input similarity), or --input "
        "choice with --choice_fields")
    assert error(tmp_path, capsys, "--train_file", path, "--text_fields", "b",
                 "--label_field", "label", "--metric", "pearson") == (
        "error: --metric 'pearson': expected one of accuracy, f1, mcc for two classes")
    assert error(tmp_path, capsys, "--text_fields", "b", "--label_field", "label") == (
        "error: --dataset custom needs --train_file (a .csv, .tsv or .jsonl file)")
    assert error_line(capsys, train.main, ["--dataset", "rte", "--train_file", path]) == (
        "error: --train_file goes with --dataset custom (your own files), not --dataset rte")


def test_argv_of_keyword_arguments():
    assert argv_of({"text_fields": ["a", "b"], "submit": True, "analysis": False,
                    "metric": None, "n_iter": 2}) == ["--text_fields", "a,b", "--submit",
                                                      "--n_iter", "2"]


# -- a task file -------------------------------------------------------------------------

TASK_FILE = '''
import numpy as np
from finetune_lm.tasks import Split, Task, metrics, transforms

def load(data_dir):
    words = "a b c d e f g h".split()
    def split(n, seed):
        rng = np.random.RandomState(seed)
        texts = [" ".join(rng.choice(words, 3)) for _ in range(n)]
        labels = np.array([t.count("a") % 2 for t in texts], np.int64)
        return Split(texts={"text": texts}, labels=labels, index=list(range(n)))
    return {"train": split(16, 0), "valid": split(4, 1)}

TASKS = [Task(name="parity", folder=".", source="made up", load=load, fields=("text",),
              transform=transforms.classification("text"), n_seq=1, head="linear", n_out=2,
              metrics=(metrics.ACCURACY,), label_names=("even", "odd"))]
'''


def test_a_task_file_declares_the_task_and_the_run_records_it(tmp_path, capsys):
    path = tmp_path / "my_task.py"
    path.write_text(TASK_FILE, encoding="utf-8")
    args = parse("--task_file", path)
    task = task_for_args(args)
    assert (args.dataset, task.name, task.label_names) == ("parity", "parity", ("even", "odd"))
    assert task.spec["kind"] == "task_file" and task.spec["path"] == str(path)
    assert task_for_run({"task": "parity", "task_spec": task.spec}).name == "parity"
    with pytest.raises(UserError, match="is not a task of --task_file"):
        task_for_args(parse("--task_file", path, "--dataset", "other"))
    path.write_text(TASK_FILE + "\n# changed\n", encoding="utf-8")
    with pytest.raises(UserError, match="changed since the run"):
        task_for_run({"task": "parity", "task_spec": task.spec})
    bad = tmp_path / "bad.py"
    bad.write_text("TASKS = 3\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"expected TASKS = \[Task\(...\)\]"):
        task_for_args(parse("--task_file", bad))


def test_rows_file_writes_json_lines_the_loader_reads(tmp_path):
    path = custom.rows_file([{"text": "it was good", "label": 1},
                             {"text": "it was bad", "label": 0}] * 5, str(tmp_path / "r.jsonl"))
    task = task_of(*flags(path, "--text_fields", "text", "--label_field", "label",
                          "--valid_share", "0.2"))
    assert task.label_names == ("0", "1") and len(task.load("")["valid"]) == 2
    with pytest.raises(UserError, match="row 1 is a list"):
        custom.rows_file([{"a": 1}, [1]], str(tmp_path / "x.jsonl"))


# -- whole runs --------------------------------------------------------------------------

TINY = ["--n_transfer", "-1", "--n_layer", "1", "--n_embd", "8", "--n_head", "2",
        "--n_iter", "1", "--n_gpu", "1", "--n_batch", "4", "--no_xla", "--submit",
        "--analysis", "--cache_dir", ""]


def run_flags(out, desc):
    return ["--params_dir", data_dir("gpt1"), "--log_dir", str(out / "log"),
            "--save_dir", str(out / "save"), "--submission_dir", str(out / "sub"),
            "--desc", desc] + TINY


@pytest.mark.slow
def test_runs_classification_similarity_regression_choice_submit_predict_resume(
        tmp_path, capsys):
    """Three tiny runs in one process: classification of a CSV with a test file (its ids
    in the submission, predict by field names, the finished run not retrained), a
    regression over a similarity pair with a valid file, a choice by option text; each
    says its transformation in its first lines and records its spec."""
    out = tmp_path / "out"
    header = ["id", "text", "other", "label"]
    train_file = write(tmp_path / "t.csv", header, sentiment(24))
    test = write(tmp_path / "test.csv", header, sentiment(5, seed=9))
    argv = ["--dataset", "custom", "--train_file", train_file, "--test_file", test,
            "--text_fields", "text", "--label_field", "label"] + run_flags(out, "cls")
    assert train.main(argv) == 0
    stdout = capsys.readouterr().out
    assert "task: input classification (inferred from 1 text field)" in stdout
    with open(str(out / "sub" / "custom_test.tsv")) as f:
        lines = f.read().splitlines()
    assert lines[0] == "index\tprediction" and [l.split("\t")[0] for l in lines[1:]] == [
        r[0] for r in sentiment(5, seed=9)]
    assert {l.split("\t")[1] for l in lines[1:]} <= {"neg", "pos"}
    assert "custom Test Accuracy" in stdout or "Test" in stdout
    with open(str(out / "save" / "cls" / "model.json")) as f:
        info = json.load(f)
    assert info["label_names"] == ["neg", "pos"] and info["task_spec"]["input"] == "classification"
    # The finished run again: no training, the same submission.
    assert train.main(argv) == 0
    assert "epoch updates" not in capsys.readouterr().out
    rows = tmp_path / "new.jsonl"
    rows.write_text('{"text": "it was good"}\n{"text": "so dull"}\n', encoding="utf-8")
    assert predict.main(["--run", str(out / "save" / "cls"), "--input", str(rows),
                         "--no_xla", "--output", str(tmp_path / "p.tsv")]) == 0
    with open(str(tmp_path / "p.tsv")) as f:
        got = f.read().splitlines()
    assert len(got) == 3 and got[0].startswith("prediction") and \
        got[1].split("\t")[0] in ("neg", "pos")

    assert export.main(["--run", str(out / "save" / "cls"), "--to", "hf",
                        str(tmp_path / "hf")]) == 0
    with open(str(tmp_path / "hf" / "config.json")) as f:
        assert json.load(f)["finetune_lm"]["labels"] == ["neg", "pos"]

    # The regression through the Python API: rows as dicts, the same run as the command's.
    pairs = [{"a": "x %s" % w, "b": "y %s" % v, "y": float(i % 5) + 0.5}
             for i, (w, v) in enumerate(zip(WORDS * 3, WORDS[::-1] * 3))]
    tiny = dict(n_transfer=-1, n_layer=1, n_embd=8, n_head=2, n_iter=1, n_gpu=1, n_batch=4,
                no_xla=True, submit=True, analysis=True, cache_dir="",
                params_dir=data_dir("gpt1"), log_dir=str(out / "log"),
                submission_dir=str(out / "sub"))
    run_dir, result = fine_tune_rows(pairs, ["a", "b"], "y", input="similarity",
                                     valid_rows=[{"a": "x good", "b": "y bad", "y": 1.25}] * 4,
                                     desc="reg", save_dir=str(out / "save"), **tiny)
    assert run_dir == str(out / "save" / "reg") and result["n_updates"] == 6
    stdout = capsys.readouterr().out
    assert "task: input similarity: similarity of a and b, both orders; label y: a " \
           "regression (squared error); main metric pearson" in stdout
    with open(str(out / "log" / "reg.jsonl")) as f:
        logs = [json.loads(line) for line in f]
    assert logs[0]["model"]["n_out"] == 1 and "va_spearman" in logs[-1]
    assert np.isfinite(logs[-1]["va_cost"]) and logs[-1]["va_cost"] > 0

    header = ["ctx", "o0", "o1", "answer"]
    choice = write(tmp_path / "c.tsv", header,
                   [["pick %s" % w, w, "not %s" % w, w if i % 2 else "not %s" % w]
                    for i, w in enumerate(WORDS * 2)])
    assert train.main(["--dataset", "custom", "--train_file", choice, "--text_fields", "ctx",
                       "--choice_fields", "o0,o1", "--label_field", "answer",
                       "--valid_share", "0.25"] + run_flags(out, "ch")) == 0
    stdout = capsys.readouterr().out
    assert "task: input choice (inferred from --choice_fields): choice among o0, o1" in stdout
    assert "valid: 0.25 of the training file held out (seed %d)" % custom.SPLIT_SEED in stdout


@pytest.mark.slow
def test_reproduce_over_seeds_of_a_custom_task(tmp_path, capsys):
    out = tmp_path / "out"
    train_file = write(tmp_path / "t.csv", ["id", "text", "other", "label"], sentiment(16))
    assert reproduce.main(["--dataset", "custom", "--train_file", train_file,
                           "--text_fields", "text", "--label_field", "label", "--seeds", "1",
                           "2", "--results_dir", str(out / "res")] + run_flags(out, "rep")) == 0
    capsys.readouterr()
    with open(str(out / "res" / "rep_reproduce.csv")) as f:
        rows = list(csv.reader(f))
    assert [r[:2] for r in rows[1:3]] == [["1", "rep_seed1"], ["2", "rep_seed2"]]
    for seed in (1, 2):
        with open(str(out / "save" / ("rep_seed%d" % seed) / "model.json")) as f:
            assert json.load(f)["task_spec"]["files"]["train"] == train_file


@pytest.mark.slow
def test_bench_encode_prints_rows_per_second(capsys):
    from finetune_lm import bench_encode
    assert bench_encode.main(["--rows", "40", "--words", "3",
                              "--params_dir", data_dir("gpt1")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        "rows", "read_rows_per_s", "encode_rows_per_s", "total_rows_per_s"]
    assert lines[0] == "rows: 40" and all(float(line.split(": ")[1]) > 0 for line in lines)


def test_the_docs_task_file_example_loads_and_encodes(tmp_path):
    """docs/custom_data.md's task file, as written there, goes through train.py's checks
    and encoding."""
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "custom_data.md"),
              encoding="utf-8") as f:
        doc = f.read()
    code = next(block.split("```")[0] for block in doc.split("```python\n")[1:]
                if "TASKS = [" in block)
    (tmp_path / "my_task.py").write_text(code, encoding="utf-8")
    data = tmp_path / "reviews"
    data.mkdir()
    for name, n in (("train", 8), ("valid", 4), ("test", 3)):
        with open(str(data / (name + ".jsonl")), "w", encoding="utf-8") as f:
            for i in range(n):
                row = {"id": "r%d" % i, "title": "title %d" % i, "body": "a long body " * i}
                if name != "test":
                    row["stars"] = i % 5 + 1
                f.write(json.dumps(row) + "\n")
    args = parse("--task_file", tmp_path / "my_task.py", "--data_dir", data, "--params_dir",
                 data_dir("gpt1"), "--n_transfer", "-1", "--n_layer", "1", "--n_embd", "8",
                 "--n_head", "2", "--n_ctx", "16", "--n_batch", "2", "--n_gpu", "1",
                 "--cache_dir", "", "--save_dir", tmp_path / "save", "--log_dir",
                 tmp_path / "log", "--submit")
    train.check_args(args)
    assert (args.dataset, args.desc) == ("reviews", "reviews")
    hp, enc = train.prepare(args, verbose=False)
    assert (hp.head, hp.n_out, sorted(enc)) == ("linear", 2, ["test", "train", "valid"])
    assert enc["train"].labels.tolist() == [0, 0, 0, 1, 1, 0, 0, 0]
    assert enc["test"].index == ["r0", "r1", "r2"] and enc["train"].longest <= 16
