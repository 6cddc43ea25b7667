"""training/model.Model and the Python API (finetune_lm/api.py): the model's logits are the
training evaluation's, its log-probabilities perplexity's scorer's, its generation with
the cache the one without; the API's fine-tune is train.py's run, its rows the predict
command's, its errors the commands' lines; docs/python_api.md's snippet runs. Tiny
models (width 16-32, one layer)."""

import contextlib
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import finetune_lm
from finetune_lm import api, predict, sample, train
from finetune_lm.training.model import Model
from finetune_lm.training import runs
from helpers import ROOT, data_dir, error_line, fake_run, tiny_lm_dir, tiny_rte

ROWS = [{"premise": "A man is playing a guitar.", "hypothesis": "A man plays music.", "id": "a"},
        {"premise": "The cat sleeps.", "hypothesis": "A dog barks loudly.", "id": "b"},
        {"premise": " ".join(["word"] * 40), "hypothesis": "Words.", "id": "c"}]


# -- the model object -------------------------------------------------------------------------

def test_classify_equals_the_training_evaluation(tmp_path):
    """Model.classify: the logits of towers.mgpu_predict over a TrainState made as training
    makes it (Adam slots and all), on the same batches."""
    from finetune_lm.lm import loader
    from finetune_lm.training import loop, towers
    from finetune_lm.training.objectives import FineTuning
    run, arrays, info = fake_run(tmp_path / "mnli", "mnli", n_ctx=24)
    model = Model.load(run)
    assert model.task.name == "mnli" and model.hp.n_ctx == 24 and model.info["n_gpu"] == 2
    split, _ = predict.rows_split(model.task, ROWS)
    enc, cut = predict.encode(model.task, split, model.info, *model.vocabulary)
    assert cut == 1 and len(enc) == 3
    got = model.classify(enc)
    hp = runs.hparams(info)
    objective = FineTuning(hp)
    shapes = objective.param_shapes()
    state = towers.TrainState(towers.make_strategy(hp.n_gpu), hp, shapes,
                              loader.load_params(os.path.join(run, "best_params.jl"), shapes))
    want, _ = loop.predict_split(towers.mgpu_predict(state, objective), enc, hp)
    assert got.shape == (3, 3) and np.array_equal(got, want)
    np.testing.assert_allclose(model.probabilities(enc).sum(1), 1, rtol=1e-12)


def test_token_logprobs_are_the_scorers_losses(tmp_path):
    """token_logprobs: the scorer's summed loss, token by token, and a log-softmax
    computed apart from it (the transformer over the whole text)."""
    import tensorflow as tf
    from finetune_lm.model.transformer import lm_logits, transformer
    folder, _ = tiny_lm_dir(tmp_path / "lm", n_ctx=16)
    model = Model.load(folder, xla=False)
    rs = np.random.RandomState(3)
    tokens = rs.randint(0, model.hp.n_vocab, 40)
    lp = model.token_logprobs(tokens, n_ctx=8, stride=7)
    count, total = model.scorer(8).score(tokens, 7)
    assert lp.shape == (39,) and count == 39
    assert -float(np.sum(lp, dtype=np.float64)) == pytest.approx(total, rel=1e-6)
    # The first window's predictions from the transformer directly.
    hp = model.hp
    X = np.stack([tokens[:8], hp.n_vocab + hp.n_special + np.arange(8)], 1)[None]
    out = transformer(model.lm_params, tf.constant(X, tf.int32), hp)
    logits = lm_logits(out.h, out.we[:hp.n_vocab], hp).numpy()[0, :-1].astype(np.float64)
    ref = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) \
        - logits.max(1, keepdims=True)
    np.testing.assert_allclose(lp[:7], ref[np.arange(7), tokens[1:8]], rtol=1e-5, atol=1e-5)


def test_generate_with_the_cache_equals_without(tmp_path):
    folder, _ = tiny_lm_dir(tmp_path / "lm", n_ctx=16)
    model = Model.load(folder, xla=False)
    prompt = [5, 17, 256, 3]
    for pick in (dict(top_k=1), dict(top_k=7, temperature=0.9, seed=4)):
        cached = model.generate(prompt, 9, n_samples=3, **pick)
        plain = model.generate(prompt, 9, n_samples=3, cache=False, **pick)
        assert cached.shape == (3, 9) and np.array_equal(cached, plain)
    assert not np.array_equal(model.generate(prompt, 9, 3, top_k=7, seed=4),
                              model.generate(prompt, 9, 3, top_k=7, seed=5))


def test_a_language_model_has_no_classifier(tmp_path):
    folder, _ = tiny_lm_dir(tmp_path / "lm")
    with pytest.raises(api.Error, match="holds a language model, not a fine-tuned classifier"):
        api.predict_rows(folder, ROWS)


# -- the API against the commands ---------------------------------------------------------------

def test_import_is_tensorflow_free_and_lazy():
    code = ("import sys, finetune_lm; assert 'tensorflow' not in sys.modules; "
            "assert 'finetune_lm.api' not in sys.modules; "
            "assert finetune_lm.Error is finetune_lm.util.errors.UserError; "
            "assert 'tensorflow' not in sys.modules; print(sorted(finetune_lm._API))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(sorted(api.__all__))


def test_predict_rows_are_the_commands_numbers(tmp_path, capsys):
    run, _, _ = fake_run(tmp_path / "mnli", "mnli", n_ctx=24)
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    capsys.readouterr()
    assert predict.main(["--run", run, "--input", str(tmp_path / "in.jsonl"), "--logits"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split("\t")
    assert header[:5] == ["id", "prediction", "p_entailment", "p_neutral", "p_contradiction"]
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    names = ("entailment", "neutral", "contradiction")
    probs = finetune_lm.predict_rows(run, [{k: r[k] for k in ("premise", "hypothesis")}
                                           for r in ROWS])
    logits = finetune_lm.predict_rows(run, ROWS, logits=True)
    assert probs.shape == (3, 3)
    assert [["%.6f" % p for p in row] for row in probs] == [[r["p_" + n] for n in names]
                                                           for r in rows]
    assert [[repr(float(x)) for x in row] for row in logits] == [[r["logit_" + n] for n in names]
                                                               for r in rows]


def test_generate_is_the_sample_commands_text(tmp_path, capsys):
    folder, _ = tiny_lm_dir(tmp_path / "lm", n_ctx=16)
    argv = ["--params_dir", folder, "--prompt", "the cat sat", "--length", "6", "--n_samples",
            "2", "--top_k", "5", "--seed", "2", "--no_xla"]
    capsys.readouterr()
    assert sample.main(argv) == 0
    out = capsys.readouterr().out
    texts = finetune_lm.generate(finetune_lm.load(folder, xla=False), "the cat sat", length=6,
                                 n_samples=2, top_k=5, seed=2)
    assert out == "".join("=== sample %d ===\n%s\n" % (i + 1, t) for i, t in enumerate(texts))


def exits(main):
    """main, with argparse's exit (a flag's malformed value) as its status."""
    def run(argv):
        try:
            return main(argv)
        except SystemExit as err:
            return err.code
    return run


def test_errors_are_the_commands_lines(tmp_path, capsys):
    """One exception type, with the message of the command's `error:` line."""
    folder, _ = tiny_lm_dir(tmp_path / "lm", n_ctx=16)
    cases = [
        (train.main, ["--dataset", "nosuch"], lambda: api.fine_tune(dataset="nosuch")),
        (train.main, ["--dataset", "rte", "--n_batch", "x"],
         lambda: api.fine_tune(dataset="rte", n_batch="x")),
        (train.main, ["--dataset", "rte", "--lr_schedule", "nosuch"],
         lambda: api.fine_tune(dataset="rte", lr_schedule="nosuch")),
        (sample.main, ["--params_dir", folder, "--prompt", "a", "--top_k", "0"],
         lambda: api.generate(folder, "a", top_k=0)),
    ]
    for main, argv, call in cases:
        line = error_line(capsys, exits(main), argv)
        with pytest.raises(finetune_lm.Error) as err:
            call()
        assert "error: %s" % err.value == line
    with pytest.raises(finetune_lm.Error, match="unknown argument 'n_epochs'.*n_iter"):
        api.fine_tune(dataset="rte", n_epochs=3)


@pytest.mark.slow  # two whole training runs
def test_fine_tune_is_train_pys_run(tmp_path, monkeypatch):
    """A seeded fine-tune through the API writes train.py's log, best_params.jl and
    submission, and prints the same lines."""
    tiny_rte(tmp_path / "RTE")
    monkeypatch.chdir(tmp_path)
    flags = dict(dataset="rte", data_dir="RTE", params_dir=data_dir("gpt1"), n_transfer=-1,
                 n_layer=1, n_embd=32, n_head=2, n_iter=2, n_gpu=2, n_batch=4, xla=False,
                 submit=True, analysis=True, cache_dir="", seed=3, lr=1e-4)
    argv = ["--dataset", "rte", "--data_dir", "RTE", "--params_dir", data_dir("gpt1"),
            "--n_transfer", "-1", "--n_layer", "1", "--n_embd", "32", "--n_head", "2",
            "--n_iter", "2", "--n_gpu", "2", "--n_batch", "4", "--no_xla", "--submit",
            "--analysis", "--cache_dir", "", "--seed", "3", "--lr", "1e-4"]
    outputs = []
    for go in (lambda: train.main(argv), lambda: api.fine_tune(**flags)):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            result = go()
        files = {}
        for path in ("log/rte.jsonl", "save/rte/best_params.jl", "submission/RTE.tsv",
                     "save/rte/model.json"):
            with open(path, "rb") as f:
                files[path] = f.read()
        lines = [json.loads(x) for x in files.pop("log/rte.jsonl").decode().splitlines()]
        for line in lines:
            line.pop("time", None)
        outputs.append((lines, files, out.getvalue(), result))
        for folder in ("log", "save", "submission"):
            subprocess.run(["rm", "-rf", folder], check=True)
    (lines, files, text, code), (lines2, files2, text2, figures) = outputs
    assert code == 0 and len(lines) == 3 and lines[0]["lr"] == 1e-4
    assert lines == lines2  # the arguments, the evaluations
    assert files == files2  # best_params.jl, the submission, model.json: bit for bit
    seconds = lambda t: re.sub(r"in [0-9.]+ s", "in - s", t)  # noqa: E731
    assert seconds(text) == seconds(text2)
    assert figures["best_valid"] == max(x["va_acc"] for x in lines[1:])


@pytest.mark.slow  # a whole training run
def test_the_docs_snippet_runs(tmp_path, monkeypatch, capsys):
    with open(os.path.join(ROOT, "docs", "python_api.md"), encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert len(blocks) == 1
    tiny_lm_dir(tmp_path / "params", n_ctx=32, n_embd=16, n_head=2, n_layer=1)
    tiny_rte(tmp_path / "datasets" / "rte")
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "docs/python_api.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "error: --dataset 'nosuch' is not a known task; expected one of: " + \
        ", ".join(sorted(finetune_lm.tasks.all_tasks()))
    assert os.path.isfile("export/rte-hf/model.safetensors")
    assert os.path.isfile("submission/RTE.tsv") and os.path.isfile("save/rte/best_params.jl")
