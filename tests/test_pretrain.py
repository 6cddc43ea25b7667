"""finetune_lm.pretrain and finetune_lm.data.corpus: a tiny pre-training on ROCStories
stories lowers the held-out perplexity and writes a folder that the loader, sample,
perplexity and train.py read; the schedule and the modified L2 against NumPy; resume
after SIGKILL; the token file (parallel encoding equal to encoding whole files,
cached by content, resumable); bad input.

Tiny model: 2 layers, width 32, 4 heads, windows of 16 tokens, the real vocabulary
(FINETUNE_LM_DATA)."""

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from helpers import (TEST, VAL, data_dir, error_line, make_params, run_train, subprocess_env,
                     write_csv)
from finetune_lm import flags, perplexity, pretrain, sample
from finetune_lm.data import corpus
from finetune_lm.data.text import TextEncoder
from finetune_lm.lm import loader, weights
from finetune_lm.model import release
from finetune_lm.lm.folder import init_arrays, load_params_dir, write_params_dir
from finetune_lm.model.hparams import HParams
from finetune_lm.model.variables import param_shapes
from finetune_lm.training import towers
from finetune_lm.training.objectives import LanguageModeling

TINY = ["--n_layer", "2", "--n_embd", "32", "--n_head", "4", "--n_ctx", "16", "--n_batch", "4",
        "--n_gpu", "2", "--n_iter", "1", "--lr", "3e-3", "--lr_warmup_updates", "10",
        "--workers", "1"]


def story_rows():
    path = os.path.join(data_dir("rocstories"), VAL)
    with open(path, encoding="utf-8") as f:
        return list(csv.reader(f))[1:]


def stories():
    return [" ".join(r[1:5]) for r in story_rows()]


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    """train.txt (200 stories, blank-line separated), small.txt (80), valid.txt (60);
    a shared token cache."""
    folder = tmp_path_factory.mktemp("corpus")
    s = stories()
    for name, part in (("train.txt", s[:200]), ("small.txt", s[300:380]),
                       ("valid.txt", s[-60:])):
        (folder / name).write_text("\n\n".join(part) + "\n", encoding="utf-8")
    (folder / "cache").mkdir()
    return folder


def vocab_args(gpt1_dir):
    return ["--params_dir", gpt1_dir]


def recipe_hparams(args, n_vocab, n_updates_total):
    """The run's HParams as pretrain.run makes them from its flags: no special rows, the
    LM loss alone, the warmup in updates as a fraction of the run."""
    return flags.hparams(args, n_vocab=n_vocab, n_special=0, lm_coef=1.0,
                         lr_warmup=args.lr_warmup_updates / n_updates_total,
                         n_updates_total=n_updates_total)


def lm_state(strategy, hp, arrays=()):
    """The language model's TrainState (what pretrain.run builds)."""
    return towers.TrainState(strategy, hp, LanguageModeling(hp).param_shapes(), arrays)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, gpt1_dir):
    """A folder in the released format as the tiny run writes it (2 layers, width 32,
    4 heads, 16 positions, the real vocabulary), of random weights: what --init_from
    reads, without a training run."""
    hp = HParams(n_vocab=release.N_VOCAB, n_special=0, n_ctx=16, n_embd=32, n_head=4, n_layer=2)
    out = str(tmp_path_factory.mktemp("folder") / "params")
    return write_params_dir(out, list(make_params(param_shapes(hp), 3).values()), hp,
                            os.path.join(gpt1_dir, release.ENCODER_FILE),
                            os.path.join(gpt1_dir, release.BPE_FILE))


@pytest.fixture(scope="module")
def tiny_run(texts, tmp_path_factory):
    """One tiny pre-training (2 towers, 1 epoch of ~65 updates; as a plain graph, which
    starts faster: test_schedule_and_modified_l2_against_numpy runs the XLA step), in
    this process."""
    gpt1 = data_dir("gpt1")
    run_dir = tmp_path_factory.mktemp("run")
    argv = ["--corpus", str(texts / "train.txt"), "--valid_corpus", str(texts / "valid.txt"),
            "--desc", "tiny", "--log_dir", str(run_dir / "log"), "--save_dir",
            str(run_dir / "save"), "--cache_dir", str(texts / "cache"), "--no_xla"]
    argv += TINY + vocab_args(gpt1)
    args = pretrain.build_parser().parse_args(argv)
    result = pretrain.run(args)
    with open(str(run_dir / "log" / "tiny.jsonl")) as f:
        log = [json.loads(line) for line in f]
    return {"result": result, "log": log, "out": str(run_dir / "save" / "tiny" / "params"),
            "dir": run_dir, "argv": argv}


# -- the tiny run -----------------------------------------------------------------------

@pytest.mark.slow
def test_pretraining_lowers_held_out_perplexity(tiny_run):
    log = tiny_run["log"]
    assert log[0]["desc"] == "tiny" and log[0]["lr"] == 3e-3  # the arguments first
    start, end = log[1], log[-1]
    assert start["n_updates"] == 0 and end["n_updates"] == tiny_run["result"]["n_updates"] > 40
    assert start["va_ppl"] > 20000  # about the vocabulary's size, untrained
    assert end["va_ppl"] < start["va_ppl"] / 10, (start, end)
    assert end["tr_ppl"] == pytest.approx(math.exp(end["tr_loss"]))
    events = os.listdir(str(tiny_run["dir"] / "log" / "tiny"))
    assert any(e.startswith("events.out.tfevents") for e in events)  # TensorBoard


@pytest.mark.slow
def test_output_folder_is_in_the_released_format(tiny_run, gpt1_dir):
    out = tiny_run["out"]
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    assert set(manifest["files"]) == set(release.FILES)
    assert manifest["model"] == {"n_vocab": 40478, "n_special": 0, "n_ctx": 16, "n_embd": 32,
                                 "n_head": 4, "n_layer": 2, "afn": "gelu", "head": None,
                                 "n_seq": 1, "n_out": 1, "soft_targets": False,
                                 "label_names": None}  # the ModelConfig of the folder
    with open(os.path.join(out, release.SHAPES_FILE)) as f:
        shapes = json.load(f)
    assert len(shapes) == 2 + 12 * 2
    assert shapes[:4] == [[16, 32], [40478, 32], [1, 32, 96], [96]]
    assert weights.verify_params_dir(out, 2) == "manifest"
    for name in (release.ENCODER_FILE, release.BPE_FILE):
        with open(os.path.join(out, name), "rb") as a:
            with open(os.path.join(gpt1_dir, name), "rb") as b:
                assert a.read() == b.read()
    # transfer_arrays (what train.py loads): tokens, 3 special rows, the positions.
    hp = HParams(n_ctx=12, n_embd=32, n_head=4, n_layer=2)
    np.random.seed(0)
    arrays = loader.transfer_arrays(out, hp, 2)
    assert len(arrays) == 1 + 24 and arrays[0].shape == (40478 + 3 + 12, 32)
    ours, _ = load_params_dir(out, 40478)
    np.testing.assert_array_equal(arrays[0][:40478], ours[0][:40478])
    np.testing.assert_array_equal(arrays[0][40481:], ours[0][40478:40478 + 12])
    for a, b in zip(arrays[1:], ours[1:]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_perplexity_and_sample_read_the_output(tiny_run, texts, capsys):
    out = tiny_run["out"]
    code = perplexity.main([str(texts / "valid.txt"), "--params_dir", out, "--n_ctx", "16",
                            "--stride", "15", "--cache_dir", str(texts / "cache"), "--no_xla"])
    stdout = capsys.readouterr().out
    assert code == 0
    ppl = float(stdout.splitlines()[-1].split(": ")[1])
    assert ppl == pytest.approx(tiny_run["log"][-1]["va_ppl"], rel=1e-4)
    code = sample.main(["--prompt", "Tom went to the store.", "--params_dir", out,
                        "--length", "10", "--top_k", "5", "--seed", "1", "--no_xla"])
    stdout = capsys.readouterr().out
    assert code == 0 and stdout.startswith("=== sample 1 ===\n")


def rocstories_like(folder):
    """ROCStories Cloze Test files of 380 + 8 rows of short real sentences (a quick
    fine-tuning: 6 training stories)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = story_rows()
    short = lambda r: [x.split(",")[0][:30] for x in r]
    row = lambda i, label: (["id%d" % i] + short(rows[i % 40][1:7]) + [label])
    write_csv(str(folder / VAL), [row(i, "12"[i % 2]) for i in range(380)])
    write_csv(str(folder / TEST), [row(i, "21"[i % 2]) for i in range(8)])
    return str(folder)


@pytest.mark.slow
def test_train_py_fine_tunes_the_output(tiny_run, tmp_path):
    data = rocstories_like(tmp_path / "roc")
    proc = run_train(["--dataset", "rocstories", "--data_dir", data, "--params_dir",
                      tiny_run["out"], "--n_layer", "2", "--n_transfer", "2", "--n_embd", "32",
                      "--n_head", "4", "--n_ctx", "16", "--n_iter", "1", "--n_batch", "2",
                      "--n_gpu", "2", "--desc", "ft", "--submit", "--no_xla"],
                     cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "save" / "ft" / "best_params.jl").is_file()


# -- the recipe -------------------------------------------------------------------------

def np_schedule(x, w):
    return x / w if x <= w else 0.5 * (1 + math.cos(math.pi * x))


def test_schedule_and_modified_l2_against_numpy(texts, gpt1_dir):
    args = pretrain.build_parser().parse_args(
        ["--corpus", "x", "--desc", "d", "--lr_warmup_updates", "3", "--n_embd", "32",
         "--n_head", "4", "--n_layer", "2", "--n_ctx", "8", "--n_batch", "2", "--n_gpu", "2"])
    hp = recipe_hparams(args, 100, 10)
    assert (hp.lr, hp.lr_schedule, hp.l2, hp.vector_l2, hp.b1, hp.b2, hp.e) == (
        2.5e-4, "warmup_cosine", 0.01, False, 0.9, 0.999, 1e-8)
    assert (hp.embd_pdrop, hp.attn_pdrop, hp.resid_pdrop, hp.afn) == (0.1, 0.1, 0.1, "gelu")
    assert pretrain.build_parser().parse_args(["--corpus", "x", "--desc", "d"]).n_iter == 100
    hp = hp.replace(embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0, lr=0.05, xla=True)
    state = lm_state(towers.make_strategy(hp.n_gpu), hp)
    step = towers.mgpu_train(state, LanguageModeling(hp))
    rs = np.random.RandomState(0)
    X = np.stack([rs.randint(0, 100, [4, 8]), np.tile(100 + np.arange(8), [4, 1])], 2)
    X = X.astype(np.int32)

    def grads(p):
        with tf.GradientTape() as tape:
            h, we, _ = pretrain_transformer(p, X, hp)
            loss = 0.0
            for t in range(2):  # the two towers' mean losses, averaged
                lm = pretrain_lm(h[2 * t:2 * t + 2], we, X[2 * t:2 * t + 2], hp)
                loss += tf.reduce_mean(lm) / 2
        return [g.numpy() for g in tape.gradient(loss, list(p.values()))], float(loss)

    p0 = state.get_params()
    names = list(state.params)
    m = [np.zeros_like(a, np.float64) for a in p0]
    v = [np.zeros_like(a, np.float64) for a in p0]
    p = [a.astype(np.float64) for a in p0]
    lrs = []
    # The key biases' gradient is 0 but for round-off (softmax ignores a constant added
    # to all of a query's scores): they move by +-lr at Adam's m / sqrt(v), with a sign
    # set by the round-off. Left out of the comparison.
    noise = [np.zeros(a.shape, bool) for a in p0]
    for i, name in enumerate(names):
        if name.endswith("attn/c_attn/b"):
            noise[i][32:64] = True
    for t in range(1, 11):
        g, loss = grads(state.params)
        got_loss, outputs, gnorm, lr = step(X)
        assert outputs == ()
        assert got_loss == pytest.approx(loss, rel=1e-5)
        norm = math.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in g))
        assert gnorm == pytest.approx(norm, rel=1e-4)
        g = [a * min(1.0, 1.0 / norm) for a in g]
        want_lr = 0.05 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * np_schedule((t - 1) / 10, 0.3)
        assert lr == pytest.approx(want_lr, rel=1e-5, abs=1e-12)
        lrs.append(lr)
        for i, name in enumerate(names):
            m[i] = 0.9 * m[i] + 0.1 * g[i]
            v[i] = 0.999 * v[i] + 0.001 * g[i] ** 2
            upd = m[i] / (np.sqrt(v[i]) + 1e-8)
            if p[i].ndim > 1:  # we and every conv weight; no bias, no gain
                upd = upd + 0.01 * p[i]
            p[i] = p[i] - want_lr * upd
        if t in (2, 5, 10):
            for i, (name, a) in enumerate(zip(names, state.get_params())):
                keep = ~noise[i]
                # atol: 2e-4 of a step (lr 0.05), for small gradients' relative round-off
                np.testing.assert_allclose(a[keep], p[i][keep], rtol=2e-4, atol=1e-5,
                                           err_msg=name)
    assert lrs[0] == 0 and max(lrs) == lrs[3] and lrs[-1] < lrs[3] / 10  # warmup, annealing


def pretrain_transformer(p, X, hp):
    from finetune_lm.model.transformer import transformer
    return transformer(p, tf.constant(X), hp)


def pretrain_lm(h, we, X, hp):
    from finetune_lm.model.transformer import lm_losses
    return lm_losses(h, we[:hp.n_vocab], tf.constant(X), tf.ones(X.shape[:2]), hp)


# -- resume after a kill ----------------------------------------------------------------

RESUME = ["--desc", "r", "--save_every", "5", "--no_xla", "--n_gpu", "1", "--n_batch", "8"]


def resume_argv(texts, gpt1_dir):
    return (["--corpus", str(texts / "small.txt"), "--cache_dir", str(texts / "cache")]
            + TINY + RESUME + vocab_args(gpt1_dir))


def shards(folder):
    names = [release.SHAPES_FILE] + release.SHARD_FILES
    return {n: (folder / "save/r/params" / n).read_bytes() for n in names}


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(texts, tmp_path, monkeypatch, capsys,
                                                  gpt1_dir):
    argv = resume_argv(texts, gpt1_dir)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    monkeypatch.chdir(str(a))
    assert pretrain.main(argv) == 0

    env = subprocess_env()
    pointer = b / "save/r/checkpoint/latest.json"
    proc = subprocess.Popen([sys.executable, "-m", "finetune_lm.pretrain"] + argv, cwd=str(b),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if pointer.exists() and json.loads(pointer.read_text())["n_updates"] >= 5:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert "corpus: reusing" in err  # the token file of the first run
    killed_at = json.loads(pointer.read_text())
    assert not killed_at["finished"] and killed_at["batch"] > 0, killed_at

    monkeypatch.chdir(str(b))
    capsys.readouterr()
    assert pretrain.main(argv) == 0
    out = capsys.readouterr().out
    assert "resume: run 'r' from update %d" % killed_at["n_updates"] in out
    assert shards(a) == shards(b)
    logs = [[{k: v for k, v in json.loads(line).items() if k != "time"}
             for line in (d / "log/r.jsonl").read_text().splitlines()] for d in (a, b)]
    assert logs[0] == logs[1] and len(logs[0]) == 3  # arguments, start, epoch end

    # Finished: not retrained; other arguments: refused, naming the flag.
    assert pretrain.main(argv) == 0
    assert "already finished" in capsys.readouterr().out
    assert "--lr" in error_line(capsys, pretrain.main, argv + ["--lr", "0.1"])


def test_divergence_stops_the_run(texts, tmp_path, monkeypatch, capsys, gpt1_dir):
    monkeypatch.chdir(str(tmp_path))
    argv = resume_argv(texts, gpt1_dir) + ["--lr", "1e30", "--lr_warmup_updates", "1",
                                           "--save_every", "1"]
    line = error_line(capsys, pretrain.main, argv)
    assert "diverged at update" in line and "checkpoint" in line, line


# -- the token file -----------------------------------------------------------------------

def test_token_file_equals_encoding_whole_files(tmp_path, gpt1_dir, capsys):
    enc_path = os.path.join(gpt1_dir, release.ENCODER_FILE)
    bpe_path = os.path.join(gpt1_dir, release.BPE_FILE)
    s = stories()
    one = tmp_path / "one.txt"
    one.write_text("\n\n".join(s[:30]) + "\n", encoding="utf-8")
    two = tmp_path / "two.txt"  # one long line: cut at spaces
    two.write_text(" ".join(s[30:40]) + "\n" + s[40], encoding="utf-8")
    cache = str(tmp_path / "cache")
    tf1 = corpus.build([str(one), str(two)], enc_path, bpe_path, cache, workers=2,
                       unit_bytes=300, verbose=False)
    assert not tf1.reused and tf1.tokens.dtype == np.uint16
    encoder = TextEncoder(enc_path, bpe_path)
    nl = encoder.encoder["\n</w>"]
    want = []
    for path in (one, two):
        want += encoder.encode([path.read_text(encoding="utf-8")])[0] + [nl]
    np.testing.assert_array_equal(np.asarray(tf1.tokens), want)
    assert tf1.files[1][0] == str(two) and tf1.files[0][2] == tf1.files[1][1]
    np.testing.assert_array_equal(tf1.file_tokens(1), want[tf1.files[1][1]:])
    # Cached by content: the same texts under other names are not encoded again.
    other = tmp_path / "copy.txt"
    other.write_bytes(one.read_bytes())
    capsys.readouterr()
    tf2 = corpus.build([str(other), str(two)], enc_path, bpe_path, cache, workers=2,
                       unit_bytes=300, verbose=False)
    assert tf2.reused and tf2.path == tf1.path and "reusing" in capsys.readouterr().err
    np.testing.assert_array_equal(np.asarray(tf2.tokens), want)


def test_token_file_build_resumes(tmp_path, gpt1_dir, capsys, monkeypatch):
    enc_path = os.path.join(gpt1_dir, release.ENCODER_FILE)
    bpe_path = os.path.join(gpt1_dir, release.BPE_FILE)
    text = tmp_path / "t.txt"
    text.write_text("\n\n".join(stories()[:20]), encoding="utf-8")
    cache = str(tmp_path / "cache")
    calls = []
    real = corpus.encode_unit

    def dies(*a):
        calls.append(a)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return real(*a)
    monkeypatch.setattr(corpus, "encode_unit", dies)
    with pytest.raises(KeyboardInterrupt):
        corpus.build([str(text)], enc_path, bpe_path, cache, workers=1, unit_bytes=200,
                     verbose=False)
    monkeypatch.setattr(corpus, "encode_unit", real)
    capsys.readouterr()
    tf1 = corpus.build([str(text)], enc_path, bpe_path, cache, workers=1, unit_bytes=200,
                       verbose=False)
    assert "resuming the encoding, 3 of" in capsys.readouterr().err
    fresh = corpus.build([str(text)], enc_path, bpe_path, str(tmp_path / "fresh"), workers=1,
                         unit_bytes=200, verbose=False)
    np.testing.assert_array_equal(np.asarray(tf1.tokens), np.asarray(fresh.tokens))
    assert sorted(os.listdir(cache)) == sorted([tf1.key + ".json", tf1.key + ".tokens"])


# -- bad input ----------------------------------------------------------------------------

def fails(capsys, argv):
    """The one `error:` line of pretrain.main(argv) (helpers.error_line)."""
    return error_line(capsys, pretrain.main, argv)


def test_bad_input(tiny_folder, texts, tmp_path, monkeypatch, capsys, gpt1_dir):
    monkeypatch.chdir(str(tmp_path))
    base = ["--desc", "bad", "--cache_dir", str(tmp_path / "cache")] + TINY + vocab_args(gpt1_dir)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    line = fails(capsys, ["--corpus", empty] + base)
    assert str(empty) in line and "empty" in line
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine text\nand then \xff here")
    line = fails(capsys, ["--corpus", str(texts / "valid.txt"), bad] + base)
    assert str(bad) in line and "byte 19" in line and "UTF-8" in line
    line = fails(capsys, ["--corpus", tmp_path / "nope.txt"] + base)
    assert "nope.txt" in line and "not found" in line
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("Just a few words.")
    line = fails(capsys, ["--corpus", tiny] + base)
    assert "windows" in line and "--n_batch 4 x --n_gpu 2" in line
    line = fails(capsys, ["--corpus", str(texts / "valid.txt"), "--init_from",
                          tiny_folder] + base + ["--n_embd", "64"])
    assert "--init_from " + tiny_folder in line and "width" in line and "32" in line
    assert "--n_embd is 64" in line
    line = fails(capsys, ["--corpus", str(texts / "valid.txt"), "--init_from",
                          tiny_folder] + base + ["--n_layer", "3"])
    assert "--n_layer" in line and "2 layers" in line
    line = fails(capsys, ["--corpus", str(texts / "valid.txt")] + base[2:])
    assert "--desc is required" in line


def test_init_from_continues_from_the_folder(tiny_folder):
    args = pretrain.build_parser().parse_args(
        ["--corpus", "x", "--desc", "d", "--n_embd", "32", "--n_head", "4", "--n_layer", "2",
         "--n_ctx", "12"])
    hp = recipe_hparams(args, 40478, 10)
    arrays = init_arrays(tiny_folder, hp, 40478)
    ours, _ = load_params_dir(tiny_folder, 40478)
    assert arrays[0].shape == (40478 + 12, 32)
    np.testing.assert_array_equal(arrays[0], ours[0][:40478 + 12])
    state = lm_state(tf.distribute.get_strategy(), hp, arrays)
    for a, b in zip(state.get_params()[1:], ours[1:]):
        np.testing.assert_array_equal(a, b)
