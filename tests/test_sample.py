"""finetune_lm.sample: the past cache, the draws, the filters, the text, the command line.

Tiny model (vocabulary 100 + 3 specials, context 24, 2 layers, width 32, 4 heads)
with random weights, against the model without a cache and a NumPy transcription;
the command line on a tiny model with the real vocabulary (FINETUNE_LM_DATA)."""

import json
import os

import joblib
import numpy as np
import pytest
import tensorflow as tf

from helpers import LM_HP, error_line, lm_params, np_lm_logits, np_softmax
from finetune_lm import sample
from finetune_lm.model import release
from finetune_lm.lm.folder import write_params_dir
from finetune_lm.lm.sampler import Sampler, decode, fit_prompt, sample_without_cache
from finetune_lm.model import transformer as M_
from finetune_lm.model.hparams import HParams

HP = LM_HP
PROMPT = [5, 17, 42, 9]
make_params = lm_params
np_logits = np_lm_logits


def np_last_logits(P, seq, hp=HP):
    return np_logits(P, seq, hp)[:, -1]


# -- the cache ----------------------------------------------------------------------------

@pytest.mark.parametrize("xla", [False, True])
def test_cache_equals_no_cache(xla):
    P = make_params()
    pick = dict(temperature=0.9, top_k=0, top_p=0.95)
    s = Sampler(P, HP, 3, len(PROMPT), 12, xla=xla, return_logits=True, **pick)
    toks, logits = s(PROMPT, seed=1)
    ref_toks, ref_logits = sample_without_cache(P, HP, PROMPT, 3, 12, seed=1, **pick)
    assert toks.shape == (3, 12) and logits.shape == (3, 12, HP.n_vocab)
    np.testing.assert_array_equal(toks, ref_toks)
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-5, atol=1e-5)
    assert len({tuple(r) for r in toks}) == 3  # the samples of the batch differ


def test_past_of_one_call_equals_two_calls():
    """transformer(past=...) as gpt-2's: a sequence run in two pieces, the second with
    the first's present as its past, gives the hidden states of one run."""
    P = make_params()
    rs = np.random.RandomState(3)
    T = 10
    X = np.stack([rs.randint(0, 100, [2, T]), np.tile(103 + np.arange(T), [2, 1])], 2)
    h = M_.transformer(P, tf.constant(X, tf.int32), HP).h
    h1, _, present = M_.transformer(P, tf.constant(X[:, :6], tf.int32), HP, with_present=True)
    assert M_.transformer(P, tf.constant(X, tf.int32), HP).present is None
    assert present.shape == (2, 2, 2, 4, 6, 8)  # [N, L, 2, H, T, D]
    h2, _, present2 = M_.transformer(P, tf.constant(X[:, 6:], tf.int32), HP, past=present)
    assert present2.shape == (2, 2, 2, 4, 4, 8)
    h6 = M_.transformer(P, tf.constant(X[:, :6], tf.int32), HP).h
    np.testing.assert_array_equal(h1.numpy(), h6.numpy())  # the plain path's numbers
    np.testing.assert_allclose(h1.numpy(), h[:, :6].numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h2.numpy(), h[:, 6:].numpy(), rtol=1e-5, atol=1e-5)
    # A fixed-size cache: 3 unfilled slots after the 6 filled ones are ignored.
    junk = tf.concat([present, 5 * tf.ones([2, 2, 2, 4, 3, 8])], axis=4)
    h3, _, _ = M_.transformer(P, tf.constant(X[:, 6:], tf.int32), HP, past=junk,
                              past_len=tf.constant(6))
    np.testing.assert_allclose(h3.numpy(), h2.numpy(), rtol=1e-5, atol=1e-5)


def test_greedy_equals_numpy_argmax_loop():
    P = make_params(seed=4)
    s = Sampler(P, HP, 1, len(PROMPT), 15, top_k=1)
    got = s(PROMPT, seed=0)[0]
    seq = np.array([PROMPT])
    for _ in range(15):
        logits = np_last_logits(P, seq)
        seq = np.concatenate([seq, np.argmax(logits, -1)[:, None]], 1)
    np.testing.assert_array_equal(got, seq[0, len(PROMPT):])
    assert len(set(got)) > 3


def allowed(logits, temperature, top_k, top_p):
    """Boolean [.., V]: the tokens the filters leave, from the spec."""
    x = logits.astype(np.float64) / temperature
    ok = np.ones(x.shape, bool)
    if top_k:
        kth = -np.sort(-x, -1)[..., top_k - 1:top_k]
        ok &= x >= kth
        x = np.where(ok, x, -1e10)
    if top_p < 1:
        order = np.argsort(-x, -1)
        probs = np.take_along_axis(np_softmax(x), order, -1)
        before = np.cumsum(probs, -1) - probs
        keep_sorted = before < top_p
        keep_sorted[..., 0] = True
        keep = np.zeros_like(ok)
        np.put_along_axis(keep, order, keep_sorted, -1)
        ok &= keep
    return ok


@pytest.mark.parametrize("top_k, top_p", [(5, 1.0), (0, 0.5), (10, 0.7)])
def test_filters_keep_to_the_allowed_set(top_k, top_p):
    P = make_params(seed=2)
    temperature = 1.5
    s = Sampler(P, HP, 16, len(PROMPT), 20, temperature, top_k, top_p,
                       return_logits=True)
    toks, logits = s(PROMPT, seed=7)
    ok = allowed(logits, temperature, top_k, top_p)  # [B, L, V]
    picked = np.take_along_axis(ok, toks[..., None], -1)[..., 0]
    assert picked.all()
    n_allowed = ok.sum(-1)
    assert (n_allowed < HP.n_vocab).all() and (n_allowed > 1).any()
    # Not always the most likely one: it samples.
    assert (toks != np.argmax(logits, -1)).any()


def test_seed_repeats_and_no_retracing_per_token():
    P = make_params()
    s = Sampler(P, HP, 2, len(PROMPT), 20, top_k=20)
    a, b, c = s(PROMPT, seed=3), s(PROMPT, seed=3), s(PROMPT, seed=4)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    assert s.tracing_count == 1  # 3 calls of 20 tokens, one trace


def test_special_and_position_rows_are_never_sampled():
    # The last layer's LN with g = 0 makes every hidden state its bias c; special and
    # position rows along c score far above every token row.
    P = make_params(variables=False)
    c = np.random.RandomState(5).randn(HP.n_embd).astype(np.float32)
    last = "model/h%d/ln_2/" % (HP.n_layer - 1)
    P[last + "g"][:] = 0
    P[last + "b"][:] = c
    P["model/we"][HP.n_vocab:] = 10 * c
    P = {k: tf.Variable(v) for k, v in P.items()}
    toks = Sampler(P, HP, 1, len(PROMPT), 5, top_k=1)(PROMPT)
    want = np.argmax(P["model/we"].numpy()[:HP.n_vocab] @ c)
    np.testing.assert_array_equal(toks, [[want] * 5])
    toks = Sampler(P, HP, 8, len(PROMPT), 5, top_p=0.99, top_k=0)(PROMPT)
    assert (toks < HP.n_vocab).all()


def test_fit_prompt_cuts_from_the_left():
    warned = []
    ids = list(range(30))
    assert fit_prompt(ids, 10, 24, warned.append) == list(range(15, 30))
    assert len(warned) == 1 and "keeping the prompt's last 15 tokens" in warned[0]
    assert fit_prompt(ids[:15], 10, 24, warned.append) == list(range(15))
    assert len(warned) == 1
    assert fit_prompt(ids, 24, 24) == [29]


def test_decode(gpt1_dir):
    from finetune_lm.data.text import TextEncoder
    enc = TextEncoder(os.path.join(gpt1_dir, release.ENCODER_FILE),
                      os.path.join(gpt1_dir, release.BPE_FILE))
    ids = enc.encode(["Hello, World. It's unbelievably tidy!\n\nNew line"])[0]
    assert decode(ids, enc.decoder) == "hello , world . it 's unbelievably tidy !\nnew line"
    assert decode(ids + [40478, 40480], enc.decoder) == decode(ids, enc.decoder)


# -- the command line -----------------------------------------------------------------------

TINY = dict(n_vocab=release.N_VOCAB, n_special=0, n_ctx=16, n_embd=16, n_head=2, n_layer=1)


def tiny_params_dir(folder, gpt1_dir, seed=0):
    """A tiny model with the real vocabulary, written as pretrain writes its output."""
    hp = HParams(**TINY)
    P = make_params(hp, seed, variables=False)
    return write_params_dir(
        str(folder), list(P.values()), hp, os.path.join(gpt1_dir, release.ENCODER_FILE),
        os.path.join(gpt1_dir, release.BPE_FILE)), P


def run_cli(capsys, *argv):
    code = sample.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def fails(capsys, *argv):
    """The one `error:` line of sample.main(argv) (helpers.error_line)."""
    return error_line(capsys, sample.main, argv)


def test_cli_prints_only_the_samples(tmp_path, capsys, gpt1_dir):
    folder, _ = tiny_params_dir(tmp_path / "params", gpt1_dir)
    argv = ["--prompt", "The cat sat on the mat.", "--params_dir", folder, "--length", 8,
            "--n_samples", 3, "--temperature", 0.8, "--top_k", 40, "--top_p", 0.9, "--seed", 0]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    lines = out.splitlines()
    assert [lines[i] for i in range(0, len(lines), 2)] == ["=== sample %d ===" % i
                                                           for i in (1, 2, 3)]
    assert len(lines) == 6 and all(lines[i].strip() for i in (1, 3, 5))
    assert "cat" not in out  # the continuation alone
    assert run_cli(capsys, *argv)[1] == out  # the seed gives the same text


def test_cli_long_prompt_is_cut_with_a_warning(tmp_path, capsys, gpt1_dir):
    folder, _ = tiny_params_dir(tmp_path / "params", gpt1_dir)
    code, out, err = run_cli(capsys, "--prompt", "one two three four five six seven eight",
                             "--params_dir", folder, "--length", 12, "--top_k", 1, "--no_xla")
    assert code == 0, err
    assert "warning: the prompt's 8 tokens and --length 12 do not fit the model's 16 " \
           "positions; keeping the prompt's last 5 tokens" in err
    assert out.startswith("=== sample 1 ===\n")


def test_cli_reads_a_fine_tuned_checkpoint(tmp_path, capsys, gpt1_dir):
    hp = HParams(**dict(TINY, n_special=3, n_ctx=10))
    arrays = list(make_params(hp, variables=False).values())
    arrays += [np.zeros([16, 1], np.float32), np.zeros([1], np.float32)]  # the task head
    path = str(tmp_path / "best_params.jl")
    joblib.dump(arrays, path)
    code, out, err = run_cli(capsys, "--prompt", "hello there", "--checkpoint", path,
                             "--params_dir", gpt1_dir, "--n_head", 2, "--length", 5, "--top_k", 1)
    assert code == 0, err
    assert out.startswith("=== sample 1 ===\n") and len(out.splitlines()) == 2
    line = fails(capsys, "--prompt", "hello", "--checkpoint", path, "--params_dir",
                 gpt1_dir, "--n_embd", 32, "--n_head", 2)
    assert path in line and "--n_embd 32" in line and "[40491, 32]" in line
    line = fails(capsys, "--prompt", "hello", "--checkpoint", path, "--params_dir",
                 gpt1_dir, "--n_layer", 12)
    assert "--n_layer 12" in line and path in line
    line = fails(capsys, "--prompt", "hello", "--checkpoint", path, "--params_dir",
                 gpt1_dir, "--n_head", 2, "--length", 11)
    assert "--length 11" in line and "10 positions" in line


def test_cli_bad_input(tmp_path, capsys, gpt1_dir):
    folder, _ = tiny_params_dir(tmp_path / "params", gpt1_dir)
    base = ["--params_dir", folder, "--length", 4]
    line = fails(capsys, "--prompt", "hi", "--top_k", 0, "--top_p", 1, *base)
    assert "--top_k 0" in line and "--top_p 1" in line
    line = fails(capsys, "--prompt", "hi", *base, "--length", 513)
    assert "--length 513" in line and "16 positions" in line  # the model's (the folder's)
    line = fails(capsys, "--prompt", " \t ", *base)
    assert "--prompt" in line and "no token" in line
    line = fails(capsys, "--prompt", "hi", "--n_embd", 32, *base)
    assert "--n_embd 32" in line and "params_shapes.json" in line
    # A shard changed after the folder was written: the manifest catches it.
    shard = os.path.join(folder, "params_3.npy")
    a = np.load(shard)
    a[0] += 1
    np.save(shard, a)
    line = fails(capsys, "--prompt", "hi", *base)
    assert shard in line and "sha256" in line
    with open(os.path.join(folder, "manifest.json")) as f:
        assert set(json.load(f)["files"]) == set(release.FILES)
