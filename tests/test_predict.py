"""finetune_lm.predict: a run's folder on new text, on its task's splits (the dev split's
logits are those of the training run's own evaluation, bit for bit), the errors before
TensorFlow, and the GLUE server's zip. Tiny models; runs are trained once (RTE) or made
up (random arrays and a model.json), which is all predict reads."""

import json
import os
import re
import subprocess
import sys
import zipfile

import joblib
import numpy as np
import pytest

from finetune_lm import predict
from finetune_lm.training import runs
from helpers import ROOT, data_dir, fake_run, head_lines, progress_bar
from finetune_lm.tasks import get_task

TINY = ["--n_transfer", "-1", "--n_layer", "1", "--n_embd", "32", "--n_head", "2",
        "--n_iter", "1", "--n_gpu", "2", "--n_batch", "4", "--no_xla", "--submit"]


def parse_tsv(text):
    lines = text.splitlines()
    header = lines[0].split("\t")
    return header, [dict(zip(header, line.split("\t"))) for line in lines[1:]]


# -- the dev split: the training run's own evaluation ----------------------------------------

@pytest.fixture(scope="module")
def rte_run(tmp_path_factory):
    from finetune_lm import train
    tmp = tmp_path_factory.mktemp("rte")
    src, d = data_dir("glue/RTE"), tmp / "RTE"
    d.mkdir()
    for name, n in (("train.tsv", 16), ("dev.tsv", 11), ("test.tsv", 6)):
        head_lines(os.path.join(src, name), str(d / name), n)
    argv = ["--dataset", "rte", "--data_dir", str(d), "--params_dir", data_dir("gpt1"),
            "--log_dir", str(tmp / "log"), "--save_dir", str(tmp / "save"),
            "--submission_dir", str(tmp / "submission"), "--cache_dir", "", "--desc", "rte"]
    assert train.main(argv + TINY) == 0
    return tmp, argv


@pytest.mark.slow  # a whole train.py run
def test_model_json_records_what_predict_needs(rte_run):
    tmp, _ = rte_run
    info, best = runs.read_run(str(tmp / "save" / "rte"))
    assert info["version"] == 2 and info["task"] == "rte" and info["n_ctx_flag"] == 512
    assert os.path.isfile(info["encoder_path"]) and len(info["vocab_sha256"]["encoder"]) == 64
    assert info["label_names"] == ["entailment", "not_entailment"]
    assert (info["n_batch"], info["n_gpu"], info["xla"]) == (4, 2, False)
    assert info["data_dir"] == str(tmp / "RTE")
    with open(str(tmp / "log" / "rte.jsonl")) as f:
        assert json.loads(f.readline())["model"] == {k: v for k, v in info.items()
                                                    if not k.startswith("_")}


@pytest.mark.slow  # a whole train.py run
def test_dev_logits_equal_the_training_evaluation(rte_run, capsys):
    from finetune_lm import train
    from finetune_lm.lm import loader
    from finetune_lm.training import loop, towers
    from finetune_lm.training.objectives import FineTuning
    tmp, argv = rte_run
    capsys.readouterr()
    out = tmp / "valid.tsv"
    assert predict.main(["--run", str(tmp / "save" / "rte"), "--split", "dev", "--logits",
                         "--output", str(out)]) == 0
    captured = capsys.readouterr()
    header, rows = parse_tsv(out.read_text())
    assert header == ["index", "prediction", "p_entailment", "p_not_entailment",
                      "logit_entailment", "logit_not_entailment"]
    got = np.array([[float(r["logit_entailment"]), float(r["logit_not_entailment"])]
                    for r in rows], np.float32)
    # The training code's evaluation of best_params.jl (the path train.py --submit takes).
    args = train.check_args(train.build_parser().parse_args(argv + TINY))
    hp, data = train.prepare(args, verbose=False)
    objective = FineTuning(hp)
    shapes = objective.param_shapes()
    state = towers.TrainState(towers.make_strategy(hp.n_gpu), hp, shapes,
                              loader.load_params(str(tmp / "save" / "rte" / "best_params.jl"),
                                                  shapes))
    want, _ = loop.predict_split(towers.mgpu_predict(state, objective), data["valid"], hp)
    assert got.shape == (11, 2) and np.array_equal(got, want)  # bit for bit
    task = get_task("rte")
    acc = loop.scores(task, task.predictions(want), data["valid"].labels)["acc"]
    assert captured.out.strip() == "RTE Valid Accuracy: %.2f" % acc  # --output: metrics on stdout
    assert [r["prediction"] for r in rows] == [task.label_names[i] for i in np.argmax(want, 1)]
    assert [r["index"] for r in rows] == [str(i) for i in data["valid"].index]


# -- new text ---------------------------------------------------------------------------

def test_input_tsv_and_jsonl_in_order_with_ids_and_one_truncation_line(tmp_path, capsys):
    run, _, info = fake_run(tmp_path / "mnli", "mnli", n_ctx=24)
    long = " ".join(["word"] * 40)
    examples = [("a7", "A man is playing a guitar.", "A man plays music."),
                ("b2", "The cat sleeps.", "A dog barks loudly."),
                ("c9", long, "Words."),
                ("d1", "It rains.", "It is wet outside.")]
    tsv = tmp_path / "in.tsv"
    tsv.write_text("id\tpremise\thypothesis\n" + "".join("%s\t%s\t%s\n" % e for e in examples))
    capsys.readouterr()
    assert predict.main(["--run", run, "--input", str(tsv), "--logits"]) == 0
    captured = capsys.readouterr()
    header, rows = parse_tsv(captured.out)  # stdout: the rows and nothing else
    assert header[:5] == ["id", "prediction", "p_entailment", "p_neutral", "p_contradiction"]
    assert [r["id"] for r in rows] == ["a7", "b2", "c9", "d1"]
    for r in rows:
        p = [float(r["p_" + n]) for n in ("entailment", "neutral", "contradiction")]
        assert abs(sum(p) - 1) < 1e-5 and r["prediction"] in ("entailment", "neutral",
                                                                 "contradiction")
    notes = [line for line in captured.err.splitlines() if "cut to fit" in line]
    assert len(notes) == 1 and notes[0].startswith("predict: 1 of 4 examples")
    # JSON lines on standard input, out as JSON lines: the same logits.
    jl = "".join(json.dumps({"premise": p, "hypothesis": h, "id": i}) + "\n"
                 for i, p, h in examples)
    sys_stdin = sys.stdin
    try:
        import io
        sys.stdin = io.StringIO(jl)
        assert predict.main(["--run", run, "--input", "-", "--format", "jsonl", "--logits"]) == 0
    finally:
        sys.stdin = sys_stdin
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["id"] for o in out] == ["a7", "b2", "c9", "d1"]
    for o, r in zip(out, rows):
        assert o["prediction"] == r["prediction"]
        assert [o["logits"][n] for n in ("entailment", "neutral", "contradiction")] == [
            float(r["logit_" + n]) for n in ("entailment", "neutral", "contradiction")]


def test_stsb_scores_and_choice_options(tmp_path, capsys):
    run, _, _ = fake_run(tmp_path / "stsb", "stsb", n_ctx=32)
    (tmp_path / "s.tsv").write_text("sentence1\tsentence2\nA dog runs.\tA dog is running.\n"
                                    "Tea is hot.\tThe market fell.\n")
    capsys.readouterr()
    assert predict.main(["--run", run, "--input", str(tmp_path / "s.tsv")]) == 0
    header, rows = parse_tsv(capsys.readouterr().out)
    assert header == ["prediction"] + ["p_%d" % i for i in range(6)]  # no id column given
    assert all(0 <= float(r["prediction"]) <= 5 for r in rows) and len(rows) == 2
    run, _, _ = fake_run(tmp_path / "roc", "rocstories", n_ctx=40)
    (tmp_path / "r.jsonl").write_text(json.dumps(
        {"story": "Tom was hungry. He went to the kitchen.", "ending1": "He made a sandwich.",
         "ending2": "He flew to the moon."}) + "\n")
    assert predict.main(["--run", run, "--input", str(tmp_path / "r.jsonl"), "--format",
                         "jsonl"]) == 0
    (row,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    # The options by their fields, counted from 1 as the data counts them.
    assert row["prediction"] in ("ending1", "ending2")
    assert set(row["probabilities"]) == {"ending1", "ending2"}


def test_options_counted_as_the_data_counts_them_and_only_labelled_bars(tmp_path, capsys,
                                                                        monkeypatch):
    """ROCStories' endings are ending1 and ending2 in the output, as in its CSV files (and
    its --input fields); the only progress bar on stderr is predict's, labelled (no bar
    of the encoding of a few rows before it)."""
    run, _, info = fake_run(tmp_path / "roc", "rocstories", n_ctx=40)
    (tmp_path / "r.tsv").write_text(
        "story\tending1\tending2\n" + "".join(
            "Tom was hungry %d.\tHe ate.\tHe flew.\n" % i for i in range(3)))
    capsys.readouterr()
    # Bars are drawn only on a terminal: stderr is made to look like one here.
    monkeypatch.setattr("finetune_lm.util.progress.on_terminal", lambda stream=None: True)
    assert predict.main(["--run", run, "--input", str(tmp_path / "r.tsv"), "--logits"]) == 0
    captured = capsys.readouterr()
    header, rows = parse_tsv(captured.out)
    assert header == ["prediction", "p_ending1", "p_ending2", "logit_ending1", "logit_ending2"]
    for r in rows:
        first = float(r["logit_ending1"]) >= float(r["logit_ending2"])
        assert r["prediction"] == ("ending1" if first else "ending2")
    bars = [b for b in re.split(r"[\r\n]", captured.err) if progress_bar(b)]
    assert bars and all(b.startswith("predict:") for b in bars), bars


ERRORS = r"""
import contextlib, io, sys
from finetune_lm import predict
for argv in %r:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = predict.main(argv)
    print(rc, repr(err.getvalue()))
print("tensorflow imported" if "tensorflow" in sys.modules else "no tensorflow")
"""


@pytest.mark.slow  # a subprocess
def test_bad_input_is_one_error_line_before_tensorflow(tmp_path):
    run, arrays, info = fake_run(tmp_path / "rte", "rte")
    (tmp_path / "cols.tsv").write_text("sentence1\tsentence\nA.\tB.\n")
    (tmp_path / "empty.tsv").write_text("")
    (tmp_path / "header.tsv").write_text("sentence1\tsentence2\n")
    (tmp_path / "good.tsv").write_text("sentence1\tsentence2\nA.\tB.\n")
    (tmp_path / "nomodel").mkdir()
    joblib.dump(arrays, str(tmp_path / "nomodel" / "best_params.jl"))
    bad, _, _ = fake_run(tmp_path / "bad", "rte")
    with open(os.path.join(bad, "model.json")) as f:
        wrong = json.load(f)
    wrong["n_ctx"] = 50
    with open(os.path.join(bad, "model.json"), "w") as f:
        json.dump(wrong, f)
    other, _, _ = fake_run(tmp_path / "other", "rte")
    with open(os.path.join(other, "model.json")) as f:
        wrong = json.load(f)
    wrong["vocab_sha256"]["encoder"] = "0" * 64
    with open(os.path.join(other, "model.json"), "w") as f:
        json.dump(wrong, f)
    cases = [["--run", run, "--input", str(tmp_path / "cols.tsv")],
             ["--run", run, "--input", str(tmp_path / "empty.tsv")],
             ["--run", run, "--input", str(tmp_path / "header.tsv")],
             ["--run", str(tmp_path / "nomodel"), "--input", str(tmp_path / "cols.tsv")],
             ["--run", bad, "--input", str(tmp_path / "good.tsv")],
             ["--run", run, "--split", "nosuch", "--data_dir", data_dir("glue/RTE")],
             ["--run", other, "--input", str(tmp_path / "good.tsv")]]
    proc = subprocess.run([sys.executable, "-c", ERRORS % (cases,)], capture_output=True,
                          text=True, cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=ROOT),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[-1] == "no tensorflow"
    results = [(int(line.split(" ", 1)[0]), eval(line.split(" ", 1)[1])) for line in lines[:-1]]
    for rc, err in results:
        assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    msgs = [err for _, err in results]
    assert "no column 'sentence2'" in msgs[0] and "sentence1, sentence2" in msgs[0]
    assert "is empty" in msgs[1] and "holds no examples" in msgs[2]
    assert "has no model.json" in msgs[3]
    assert "model/we" in msgs[4] and "model.json" in msgs[4] and "do not fit" in msgs[4]
    assert "--split nosuch" in msgs[5] and "valid" in msgs[5]
    assert "is not the vocabulary the run was trained with" in msgs[6]


def test_a_run_from_before_model_json_named_its_vocabulary(tmp_path, capsys):
    run, _, info = fake_run(tmp_path / "old", "sst2", n_ctx=20)
    with open(os.path.join(run, "model.json"), "w") as f:
        json.dump({k: info[k] for k in runs.SIZES}, f)  # version 1: the sizes and the task
    (tmp_path / "in.tsv").write_text("sentence\nA fine film.\nDull and long.\n")
    argv = ["--run", run, "--input", str(tmp_path / "in.tsv"), "--no_xla"]
    capsys.readouterr()
    assert predict.main(argv + ["--params_dir", str(tmp_path / "nowhere")]) == 2
    assert "vocabulary file" in capsys.readouterr().err
    assert predict.main(argv + ["--params_dir", data_dir("gpt1")]) == 0
    header, rows = parse_tsv(capsys.readouterr().out)
    assert header == ["prediction", "p_0", "p_1"] and len(rows) == 2


# -- the GLUE server's zip --------------------------------------------------------------------

def glue_folders(root):
    """Tiny GLUE folders in the download's layouts (two test rows each)."""
    def w(path, lines):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    s = ["A man plays.", "It rains today."]
    r = str(root)
    w(r + "/CoLA/train.tsv", ["gj04\t1\t\t%s" % x for x in s])
    w(r + "/CoLA/dev.tsv", ["gj04\t0\t*\t%s" % x for x in s])
    w(r + "/CoLA/test.tsv", ["index\tsentence", "0\t%s" % s[0], "1\t%s" % s[1]])
    w(r + "/SST-2/train.tsv", ["sentence\tlabel"] + ["%s\t1" % x for x in s])
    w(r + "/SST-2/dev.tsv", ["sentence\tlabel"] + ["%s\t0" % x for x in s])
    w(r + "/SST-2/test.tsv", ["index\tsentence", "0\t%s" % s[0], "1\t%s" % s[1]])
    mrpc = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
    for name in ("train", "dev"):
        w(r + "/MRPC/%s.tsv" % name, [mrpc, "1\t1\t2\t%s\t%s" % (s[0], s[1])])
    w(r + "/MRPC/test.tsv", ["index\t#1 ID\t#2 ID\t#1 String\t#2 String",
                             "0\t1\t2\t%s\t%s" % (s[0], s[1]), "1\t3\t4\t%s\t%s" % (s[1], s[0])])
    sts = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"
    for name in ("train", "dev"):
        w(r + "/STS-B/%s.tsv" % name, [sts + "\tscore", "0\tg\tf\ty\t0\ta\tb\t%s\t%s\t3.2"
                                       % (s[0], s[1])])
    w(r + "/STS-B/test.tsv", [sts, "0\tg\tf\ty\t0\ta\tb\t%s\t%s" % (s[0], s[1]),
                              "1\tg\tf\ty\t1\ta\tb\t%s\t%s" % (s[1], s[0])])
    for name in ("train", "dev"):
        w(r + "/QQP/%s.tsv" % name, ["id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate",
                                     "5\t1\t2\t%s\t%s\t0" % (s[0], s[1])])
    w(r + "/QQP/test.tsv", ["id\tquestion1\tquestion2", "0\t%s\t%s" % (s[0], s[1]),
                            "1\t%s\t%s" % (s[1], s[0])])
    nli = "index\tsentence1\tsentence2\tgold_label"
    for name in ("train", "dev_matched", "dev_mismatched"):
        w(r + "/MNLI/%s.tsv" % name, [nli, "0\t%s\t%s\tneutral" % (s[0], s[1])])
    for name in ("test_matched", "test_mismatched"):
        w(r + "/MNLI/%s.tsv" % name, ["index\tsentence1\tsentence2", "0\t%s\t%s" % (s[0], s[1]),
                                       "1\t%s\t%s" % (s[1], s[0])])
    w(r + "/diagnostic/diagnostic.tsv", ["index\tsentence1\tsentence2",
                                         "0\t%s\t%s" % (s[0], s[1])])
    for task, cols, label in (("QNLI", "question\tsentence", "entailment"),
                              ("RTE", "sentence1\tsentence2", "not_entailment"),
                              ("WNLI", "sentence1\tsentence2", None)):
        for name in ("train", "dev"):
            rows = ["0\t%s\t%s\t%s" % (s[0], s[1], label or "1"),
                    "1\t%s\t%s\t%s" % (s[1], s[0], label or "1"),
                    "2\t%s\t%s\t%s" % (s[1], s[1], label or "0")]
            w(r + "/%s/%s.tsv" % (task, name), ["index\t%s\tlabel" % cols] + rows)
        w(r + "/%s/test.tsv" % task, ["index\t%s" % cols, "0\t%s\t%s" % (s[0], s[1]),
                                      "1\t%s\t%s" % (s[1], s[0]), "2\t%s\t%s" % (s[0], s[0])])
    return r


@pytest.mark.slow  # subprocesses
def test_glue_zip(tmp_path):
    glue = glue_folders(tmp_path / "glue")
    names = ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte"]
    run_dirs = [fake_run(tmp_path / "save" / n, n, n_ctx=24, seed=i)[0]
                for i, n in enumerate(names)]
    out = str(tmp_path / "glue.zip")
    code = ("import sys; from finetune_lm import predict; "
            "sys.exit(predict.main(sys.argv[1:]))")
    cmd = [sys.executable, "-c", code, "--glue_zip", out, "--glue_dir", glue]
    env = dict(os.environ, PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="")
    # A task without a run: refused by name, nothing written.
    proc = subprocess.run(cmd + ["--runs"] + run_dirs[:4] + run_dirs[5:], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 2 and proc.stderr.startswith("error: no run for QQP (qqp)")
    assert not os.path.exists(out)
    proc = subprocess.run(cmd + ["--runs"] + run_dirs, capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == ""
    with zipfile.ZipFile(out) as z:
        assert sorted(z.namelist()) == sorted(predict.UPLOAD_FILES)
        files = {n: z.read(n).decode().splitlines() for n in z.namelist()}
    for name, n in (("CoLA.tsv", 2), ("MNLI-m.tsv", 2), ("AX.tsv", 1), ("QNLI.tsv", 3),
                    ("WNLI.tsv", 3), ("STS-B.tsv", 2), ("QQP.tsv", 2)):
        assert files[name][0] == "index\tprediction" and len(files[name]) == n + 1, name
    assert {r.split("\t")[1] for r in files["MNLI-mm.tsv"][1:]} <= {
        "entailment", "neutral", "contradiction"}
    assert all(0 <= float(r.split("\t")[1]) <= 5 for r in files["STS-B.tsv"][1:])
    assert [r.split("\t")[1] for r in files["WNLI.tsv"][1:]] == ["1", "1", "1"]  # 2 of 3
    assert "WNLI.tsv: the majority class of WNLI's training set (1, 2 of 3" in proc.stderr
