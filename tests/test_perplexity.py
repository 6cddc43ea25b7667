"""finetune_lm.perplexity: the windows, the loss against NumPy, the command line."""

import math
import os

import numpy as np
import pytest
import tensorflow as tf

from helpers import LM_HP, error_line, lm_params, np_lm_logits
from finetune_lm import perplexity
from finetune_lm.model import release
from finetune_lm.lm.folder import write_params_dir
from finetune_lm.lm.scorer import Scorer, windows
from finetune_lm.model.hparams import HParams

# The tiny model of test_sample.py (helpers.LM_HP).
HP = LM_HP
make_params = lm_params
np_logits = np_lm_logits


def tiny_params_dir(folder, gpt1_dir, seed=0):
    """A tiny model with the real vocabulary, written as pretrain writes its output."""
    hp = HParams(n_vocab=release.N_VOCAB, n_special=0, n_ctx=16, n_embd=16, n_head=2, n_layer=1)
    P = make_params(hp, seed, variables=False)
    return write_params_dir(
        str(folder), list(P.values()), hp, os.path.join(gpt1_dir, release.ENCODER_FILE),
        os.path.join(gpt1_dir, release.BPE_FILE)), P


@pytest.mark.parametrize("n, ctx, stride", [(30, 8, 7), (30, 8, 3), (8, 8, 7), (9, 8, 7),
                                            (5, 8, 2), (2, 8, 7), (1, 8, 7), (100, 16, 1),
                                            (16, 8, 7)])
def test_windows_score_every_token_once(n, ctx, stride):
    scored = np.zeros(n, int)
    wins = windows(n, ctx, stride)
    for start, length, first in wins:
        assert 1 <= length <= ctx and start + length <= n and first >= 1
        scored[start + first:start + length] += 1
    assert scored[0] == 0 and (scored[1:] == 1).all()
    # Each token is scored with all the context the windows give it.
    if stride == ctx - 1:  # contiguous windows, each one's first token the last of the one before
        assert [w[0] for w in wins] == list(range(0, max(n - 1, 0), ctx - 1))
    with pytest.raises(ValueError):
        windows(n, ctx, ctx)


def np_perplexity(P, tokens, ctx, stride):
    losses = []
    for start, length, first in windows(len(tokens), ctx, stride):
        seq = np.asarray(tokens[start:start + length])[None]
        logits = np_logits(P, seq)[0]  # [length, V]
        logz = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
        for j in range(first, length):
            losses.append(logz[j - 1] - logits[j - 1, seq[0, j]])
    return len(losses), float(np.mean(losses))


@pytest.mark.parametrize("ctx, stride, xla", [(24, 23, True), (10, 4, False), (10, 4, True)])
def test_perplexity_equals_numpy(ctx, stride, xla):
    P = make_params(seed=6)
    tokens = np.random.RandomState(1).randint(0, HP.n_vocab, 53)
    scorer = Scorer(P, HP, n_ctx=ctx, n_batch=3, xla=xla)
    count, total = scorer.score(tokens, stride)
    want_count, want_mean = np_perplexity(P, tokens, ctx, stride)
    assert count == want_count == 52
    np.testing.assert_allclose(total / count, want_mean, rtol=1e-5)
    np.testing.assert_allclose(math.exp(total / count), math.exp(want_mean), rtol=1e-5)


def run_cli(capsys, *argv):
    code = perplexity.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli(tmp_path, capsys, gpt1_dir):
    folder, _ = tiny_params_dir(tmp_path / "params", gpt1_dir)
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("The cat sat on the mat. It was happy there.\n\nThe dog did not mind.\n")
    b.write_text("A second file, with other words in it, and more than sixteen tokens "
                 "so that it needs two windows.")
    cache = tmp_path / "cache"
    argv = [a, b, "--params_dir", folder, "--stride", 8, "--cache_dir", cache, "--workers", 1]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith(str(a) + ": ") and lines[1].startswith(str(b) + ": ")
    counts = [int(line.split(": ")[1].split()[0]) for line in lines[:2]]
    means = [float(line.split("mean loss ")[1].split(",")[0]) for line in lines[:2]]
    assert lines[2] == "tokens: %d" % sum(counts)
    mean = float(lines[3].split(": ")[1])
    assert mean == pytest.approx(np.dot(counts, means) / sum(counts), rel=1e-3)
    assert lines[4].startswith("perplexity: ")
    assert float(lines[4].split(": ")[1]) == pytest.approx(math.exp(mean), rel=1e-5)
    assert mean > 5  # an untrained model on a 40478-token vocabulary
    code, out2, err2 = run_cli(capsys, *argv)
    assert out2 == out and "reusing" in err2  # the encoded texts are kept


def fails(capsys, *argv):
    """The one `error:` line of perplexity.main(argv) (helpers.error_line)."""
    return error_line(capsys, perplexity.main, argv)


def test_cli_bad_input(tmp_path, capsys, gpt1_dir):
    folder, _ = tiny_params_dir(tmp_path / "params", gpt1_dir)
    base = ["--params_dir", folder, "--cache_dir", tmp_path / "cache", "--workers", 1]
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\u00e9 ok\n".encode("utf-8") + "na\u00efve".encode("latin-1"))
    line = fails(capsys, bad, *base)
    assert str(bad) in line and "byte 11" in line and "UTF-8" in line
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    line = fails(capsys, empty, *base)
    assert str(empty) in line and "empty" in line
    blank = tmp_path / "blank.txt"
    blank.write_text("  \n\n \t\n")
    line = fails(capsys, blank, *base)
    assert str(blank) in line and "no text" in line
    line = fails(capsys, tmp_path / "missing.txt", *base)
    assert "missing.txt" in line and "not found" in line
    ok = tmp_path / "ok.txt"
    ok.write_text("some words here")
    line = fails(capsys, ok, *base, "--stride", 16)
    assert "--stride 16" in line and "1..15" in line
    line = fails(capsys, ok, *base, "--n_ctx", 17)
    assert "--n_ctx 17" in line
    line = fails(capsys, ok, *base, "--stride", 0)
    assert "--stride 0" in line
    line = fails(capsys, ok, "--params_dir", folder, "--cache_dir", tmp_path / "cache",
                 "--workers", -1)
    assert "--workers -1" in line
