"""Tests for finetune_lm.model (ops, transformer, heads) and the fine-tuning objective that
composes them (training/objectives.py), against an independent NumPy transcription of
docs/fidelity.md ("Model", "Heads").

Tiny configuration in the style of google-research/bert's modeling_test.py: vocabulary
60 (+3 specials, +10 positions), n_ctx 10, 2 layers, width 32, 4 heads, ROCStories'
head (multiple choice between 2 sequences). The NumPy reference below is written from
the spec ("Model" section), not from the model's code.
"""

import math
import zlib

import numpy as np
import pytest
import tensorflow as tf

from helpers import NP_ACT, make_params as random_params, np_ln, np_softmax
from finetune_lm.model import heads, ops, transformer, variables
from finetune_lm.model.hparams import HParams
from finetune_lm.training.objectives import FineTuning, train_loss

N_VOCAB, N_SPECIAL, N_CTX, N_EMBD, N_HEAD, N_LAYER = 60, 3, 10, 32, 4, 2
START, DELIM, CLF = N_VOCAB, N_VOCAB + 1, N_VOCAB + 2

HP = HParams(n_vocab=N_VOCAB, n_special=N_SPECIAL, n_ctx=N_CTX, n_embd=N_EMBD,
             n_head=N_HEAD, n_layer=N_LAYER, embd_pdrop=0.0, attn_pdrop=0.0,
             resid_pdrop=0.0, clf_pdrop=0.0, clf_token=CLF, lm_coef=0.5,
             head="choice", n_seq=2, n_out=1)

# First _classify_ position of each (example, choice); sequence (0, 1) has a second
# _classify_ at position 6, inside its mask, which must NOT be the pooled one.
CLF_POS = [[9, 3], [5, 7], [6, 2]]
EXTRA_CLF = (0, 1, 6)
Y_LABELS = [1, 0, 1]


# -- NumPy reference ------------------------------------------------------------

def np_xent(logits, labels):
    """Sparse softmax cross-entropy over the last axis."""
    mx = logits.max(-1, keepdims=True)
    lse = np.log(np.exp(logits - mx).sum(-1)) + mx[..., 0]
    picked = np.take_along_axis(logits, labels[..., None], -1)[..., 0]
    return lse - picked


def np_forward(P, X, M, Y, hp, we=None, clf_mask=None, pool="first", we_head=None):
    """Whole forward pass in float64. we: replaces P['model/we'] (gather and head);
    we_head: a different matrix for the LM head only; clf_mask [B, C] multiplies
    the pooled hidden states of both choices."""
    P = {k: np.asarray(v, np.float64) for k, v in P.items()}
    we = P["model/we"] if we is None else np.asarray(we, np.float64)
    we_head = we if we_head is None else np.asarray(we_head, np.float64)
    T, C, H = hp.n_ctx, hp.n_embd, hp.n_head
    D = C // H
    act = NP_ACT[hp.afn]
    Xs = np.asarray(X).reshape(-1, T, 2)
    Ms = np.asarray(M, np.float64).reshape(-1, T)
    N = Xs.shape[0]
    h = we[Xs[:, :, 0]] + we[Xs[:, :, 1]]  # [N, T, C]
    causal = np.tril(np.ones([T, T]))
    for layer in range(hp.n_layer):
        s = "model/h%d/" % layer
        c = h @ P[s + "attn/c_attn/w"][0] + P[s + "attn/c_attn/b"]  # [N, T, 3C]
        q, k, v = c[..., :C], c[..., C:2 * C], c[..., 2 * C:]
        heads = lambda z: z.reshape(N, T, H, D).transpose(0, 2, 1, 3)  # [N, H, T, D]
        q, k, v = heads(q), heads(k), heads(v)
        w = q @ k.transpose(0, 1, 3, 2) / math.sqrt(D)  # [N, H, T, T]
        w = w * causal + -1e9 * (1 - causal)
        w = np_softmax(w)
        a = (w @ v).transpose(0, 2, 1, 3).reshape(N, T, C)
        a = a @ P[s + "attn/c_proj/w"][0] + P[s + "attn/c_proj/b"]
        n = np_ln(h + a, P[s + "ln_1/g"], P[s + "ln_1/b"])
        f = act(n @ P[s + "mlp/c_fc/w"][0] + P[s + "mlp/c_fc/b"])
        m = f @ P[s + "mlp/c_proj/w"][0] + P[s + "mlp/c_proj/b"]
        h = np_ln(n + m, P[s + "ln_2/g"], P[s + "ln_2/b"])
    # LM head: positions 0..T-2 predict tokens 1..T-1, masked mean per sequence.
    lm_logits = h[:, :-1] @ we_head.T  # [N, T-1, V]
    lm = np_xent(lm_logits, Xs[:, 1:, 0])
    lm_losses = (lm * Ms[:, 1:]).sum(1) / Ms[:, 1:].sum(1)
    # Classifier at the first (or, for the sensitivity check, last) _classify_.
    idx = []
    for i in range(N):
        where = np.flatnonzero(Xs[i, :, 0] == hp.clf_token)
        idx.append(where[0] if pool == "first" else where[-1])
    clf_h = h[np.arange(N), idx].reshape(-1, 2, C)
    if clf_mask is not None:
        clf_h = clf_h * np.asarray(clf_mask, np.float64)[:, None, :]
    clf_logits = clf_h @ P["model/clf/w"][:, 0] + P["model/clf/b"][0]  # [B, 2]
    clf_losses = np_xent(clf_logits, np.asarray(Y))
    return clf_logits, clf_losses, lm_losses


# -- fixtures -----------------------------------------------------------------------

def make_params(hp=HP, seed=0):
    """Random values of every variable (the transformer's and the head's), scaled so
    that each one shows in the outputs."""
    return random_params(FineTuning(hp).param_shapes(), seed)


def make_batch(hp=HP, seed=1):
    rs = np.random.RandomState(seed)
    B, T = len(CLF_POS), hp.n_ctx
    X = np.zeros([B, 2, T, 2], np.int32)
    Mk = np.zeros([B, 2, T], np.float32)
    X[:, :, :, 1] = hp.n_vocab + hp.n_special + np.arange(T)
    for b in range(B):
        for c in range(2):
            pos = CLF_POS[b][c]
            last = EXTRA_CLF[2] if (b, c) == EXTRA_CLF[:2] else pos
            X[b, c, :last + 1, 0] = rs.randint(0, hp.n_vocab, size=last + 1)
            X[b, c, 0, 0] = START
            if pos >= 3:
                X[b, c, pos - 2, 0] = DELIM
            X[b, c, pos, 0] = CLF
            if last != pos:
                X[b, c, last, 0] = CLF
            Mk[b, c, :last + 1] = 1
    Y = np.array(Y_LABELS, np.int32)
    return X, Mk, Y


def as_vars(P):
    return {k: tf.Variable(v) for k, v in P.items()}


def run(P, X, Mk, Y, hp=HP, rng=None, lm=True):
    out = FineTuning(hp).forward(P, tf.constant(X), tf.constant(Mk), tf.constant(Y), rng=rng,
                                 lm=lm)
    return tuple(None if o is None else o.numpy() for o in out)


def site_mask(rng, site, shape, pdrop):
    """The keep mask (0 or 1/(1-p)) ops.dropout draws at `site`: same seed derivation."""
    seed = tf.random.experimental.stateless_fold_in(rng, zlib.crc32(site.encode()))
    return tf.nn.experimental.stateless_dropout(
        tf.ones(shape), pdrop, seed=seed, rng_alg="philox").numpy()


def assert_outputs_close(got, want, names=("clf_logits", "clf_losses", "lm_losses")):
    for g, w, n in zip(got, want, names):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=n)


RNG1 = tf.constant([3, 17], tf.int64)
RNG2 = tf.constant([3, 18], tf.int64)


# -- batch sanity (the fixtures must exercise what they claim) -------------------------

def test_batch_has_padding_and_second_classify_token():
    X, Mk, Y = make_batch()
    assert X.shape == (3, 2, N_CTX, 2) and Mk.shape == (3, 2, N_CTX)
    b, c, extra = EXTRA_CLF
    assert list(np.flatnonzero(X[b, c, :, 0] == CLF)) == [CLF_POS[b][c], extra]
    assert Mk[b, c, extra] == 1
    assert (Mk == 0).any() and (Mk[0, 0] == 1).all()
    for b in range(3):
        for c in range(2):
            assert np.flatnonzero(X[b, c, :, 0] == CLF)[0] == CLF_POS[b][c]


# -- forward pass -------------------------------------------------------------------

@pytest.mark.parametrize("afn", ["gelu", "relu", "swish"])
def test_forward_matches_numpy(afn):
    hp = HP.replace(afn=afn)
    P = make_params()
    X, Mk, Y = make_batch()
    got = run(as_vars(P), X, Mk, Y, hp)
    want = np_forward(P, X, Mk, Y, hp)
    assert got[0].shape == (3, 2) and got[1].shape == (3,) and got[2].shape == (6,)
    assert got[0].dtype == np.float32
    assert_outputs_close(got, want)


def test_forward_accepts_plain_tensors():
    P = make_params(seed=5)
    X, Mk, Y = make_batch(seed=6)
    got = run({k: tf.constant(v) for k, v in P.items()}, X, Mk, Y)
    assert_outputs_close(got, np_forward(P, X, Mk, Y, HP))


def test_activations_differ():
    """The afn flag must change the numbers (else the parametrised test is vacuous)."""
    P = make_params()
    X, Mk, Y = make_batch()
    outs = [run(as_vars(P), X, Mk, Y, HP.replace(afn=a))[0] for a in ("gelu", "relu", "swish")]
    assert not np.allclose(outs[0], outs[1], atol=1e-3)
    assert not np.allclose(outs[0], outs[2], atol=1e-3)


def test_classifier_pools_first_classify_token():
    P = make_params()
    X, Mk, Y = make_batch()
    got = run(as_vars(P), X, Mk, Y)
    first = np_forward(P, X, Mk, Y, HP, pool="first")
    last = np_forward(P, X, Mk, Y, HP, pool="last")
    b, c, _ = EXTRA_CLF
    # The batch tells the two apart, and the model agrees with "first".
    assert abs(first[0][b, c] - last[0][b, c]) > 1e-2
    np.testing.assert_allclose(got[0], first[0], rtol=1e-5, atol=1e-5)


def test_lm_false_skips_lm_head():
    P = as_vars(make_params())
    X, Mk, Y = make_batch()
    with_lm = run(P, X, Mk, Y, lm=True)
    without = run(P, X, Mk, Y, lm=False)
    assert without[2] is None
    np.testing.assert_array_equal(without[0], with_lm[0])
    np.testing.assert_array_equal(without[1], with_lm[1])


def test_lm_losses_ignore_padding():
    """Tokens under mask 0 change nothing: neither the LM losses nor the classifier."""
    P = as_vars(make_params())
    X, Mk, Y = make_batch()
    X2 = X.copy()
    X2[:, :, :, 0] = np.where(Mk == 0, 7, X[:, :, :, 0])
    assert (X2 != X).any()
    a, b = run(P, X, Mk, Y), run(P, X2, Mk, Y)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-6)


# -- pieces ---------------------------------------------------------------------------

def test_norm_eps_and_biased_variance():
    rs = np.random.RandomState(0)
    x = (1e-3 * rs.randn(2, 3, 8)).astype(np.float32)  # variance ~1e-6: eps matters
    g = (1 + 0.1 * rs.randn(8)).astype(np.float32)
    b = (0.1 * rs.randn(8)).astype(np.float32)
    got = ops.norm({"ln/g": g, "ln/b": b}, "ln", tf.constant(x)).numpy()
    np.testing.assert_allclose(got, np_ln(x.astype(np.float64), g, b), rtol=1e-4, atol=1e-6)
    assert not np.allclose(got, np_ln(x.astype(np.float64), g, b, e=1e-6), rtol=1e-2)


def test_split_merge_heads():
    B, T, C, H = 2, 5, 12, 3
    D = C // H
    x = np.arange(B * T * C, dtype=np.float32).reshape(B, T, C)
    q = transformer.split_heads(tf.constant(x), H)
    k = transformer.split_heads(tf.constant(x), H, k=True)
    assert q.shape == (B, H, T, D)
    assert k.shape == (B, H, D, T)
    ref = x.reshape(B, T, H, D).transpose(0, 2, 1, 3)
    np.testing.assert_array_equal(q.numpy(), ref)
    np.testing.assert_array_equal(k.numpy(), ref.transpose(0, 1, 3, 2))
    # e.g. head 1, time 2, dim 3 is feature 1 * D + 3 of time 2
    assert q.numpy()[1, 1, 2, 3] == x[1, 2, 1 * D + 3]
    merged = transformer.merge_heads(q)
    assert merged.shape == (B, T, C)
    np.testing.assert_array_equal(merged.numpy(), x)


def test_conv1d_3d():
    rs = np.random.RandomState(0)
    x = rs.randn(2, 5, 6).astype(np.float32)
    w = rs.randn(1, 6, 7).astype(np.float32)
    b = rs.randn(7).astype(np.float32)
    got = ops.conv1d({"s/w": tf.constant(w), "s/b": tf.constant(b)}, "s", tf.constant(x))
    assert got.shape == (2, 5, 7)
    np.testing.assert_allclose(got.numpy(), x @ w[0] + b, rtol=1e-5, atol=1e-5)


def test_mask_attn_weights():
    w = np.random.RandomState(0).randn(1, 2, 4, 4).astype(np.float32)
    got = transformer.mask_attn_weights(tf.constant(w)).numpy()
    low = np.tril(np.ones([4, 4], bool))
    np.testing.assert_array_equal(got[..., low], w[..., low])
    np.testing.assert_array_equal(got[..., ~low], np.float32(-1e9))


@pytest.mark.parametrize("name, X_shape, M_shape, Y_shape, expected", [
    ("X", [3, 2, N_CTX - 1, 2], [3, 2, N_CTX], [3], "[None, 2, %d, 2]" % N_CTX),
    ("X", [3, 2, N_CTX], [3, 2, N_CTX], [3], "[None, 2, %d, 2]" % N_CTX),
    ("X", [3, 1, N_CTX, 2], [3, 2, N_CTX], [3], "[None, 2, %d, 2]" % N_CTX),
    ("M", [3, 2, N_CTX, 2], [3, 2, N_CTX + 1], [3], "[None, 2, %d]" % N_CTX),
    ("M", [3, 2, N_CTX, 2], [3, N_CTX], [3], "[None, 2, %d]" % N_CTX),
    ("Y", [3, 2, N_CTX, 2], [3, 2, N_CTX], [3, 1], "[None]"),
])
def test_entry_shape_checks(name, X_shape, M_shape, Y_shape, expected):
    P = as_vars(make_params())
    X = tf.zeros(X_shape, tf.int32)
    Mk = tf.ones(M_shape, tf.float32)
    Y = tf.zeros(Y_shape, tf.int32)
    with pytest.raises(ValueError) as err:
        FineTuning(HP).forward(P, X, Mk, Y)
    msg = str(err.value)
    assert msg.startswith(name + " ")
    assert expected in msg


def test_train_loss():
    clf_l = tf.constant([1.0, 2.0, 6.0])
    lm_l = tf.constant([4.0, 5.0, 6.0, 8.0, 1.0, 0.0])
    got = train_loss(clf_l, lm_l, HP.replace(lm_coef=0.5)).numpy()
    np.testing.assert_allclose(got, 3.0 + 0.5 * 4.0, rtol=1e-6)
    got = train_loss(clf_l, lm_l, HP.replace(lm_coef=0.25)).numpy()
    np.testing.assert_allclose(got, 3.0 + 0.25 * 4.0, rtol=1e-6)
    assert train_loss(clf_l, lm_l, HP.replace(lm_coef=0.0)).numpy() == pytest.approx(3.0)
    assert train_loss(clf_l, None, HP.replace(lm_coef=0.0)).numpy() == pytest.approx(3.0)


# -- dropout --------------------------------------------------------------------------

def test_zero_pdrop_with_rng_equals_eval():
    P = as_vars(make_params())
    X, Mk, Y = make_batch()
    ev = run(P, X, Mk, Y, rng=None)
    tr = run(P, X, Mk, Y, rng=RNG1)
    for a, b in zip(ev, tr):
        np.testing.assert_array_equal(a, b)


def test_pdrop_without_rng_is_eval():
    hp = HP.replace(embd_pdrop=0.3, attn_pdrop=0.3, resid_pdrop=0.3, clf_pdrop=0.3)
    P = make_params()
    X, Mk, Y = make_batch()
    assert_outputs_close(run(as_vars(P), X, Mk, Y, hp, rng=None), np_forward(P, X, Mk, Y, hp))


@pytest.mark.parametrize("flag", ["embd_pdrop", "attn_pdrop", "resid_pdrop", "clf_pdrop"])
def test_dropout_is_a_function_of_rng(flag):
    hp = HP.replace(**{flag: 0.3})
    P = as_vars(make_params())
    X, Mk, Y = make_batch()
    ev = run(P, X, Mk, Y, hp)
    a = run(P, X, Mk, Y, hp, rng=RNG1)
    a2 = run(P, X, Mk, Y, hp, rng=tf.constant([3, 17], tf.int64))
    b = run(P, X, Mk, Y, hp, rng=RNG2)
    np.testing.assert_array_equal(a[0], a2[0])
    assert not np.allclose(a[0], ev[0], atol=1e-4)
    assert not np.allclose(a[0], b[0], atol=1e-4)
    if flag != "clf_pdrop":  # the classifier's dropout does not touch the LM head
        np.testing.assert_array_equal(a[2], a2[2])
        assert not np.allclose(a[2], b[2], atol=1e-4)


def test_embd_dropout_one_mask_for_gather_and_lm_head():
    p = 0.3
    hp = HP.replace(embd_pdrop=p)
    P = make_params()
    X, Mk, Y = make_batch()
    keep = site_mask(RNG1, "model/we/embd_pdrop", P["model/we"].shape, p)
    assert set(np.unique(keep)) == {0.0, np.float32(1 / (1 - p))}
    assert 0.15 < (keep == 0).mean() < 0.45
    we_d = P["model/we"] * keep
    got = run(as_vars(P), X, Mk, Y, hp, rng=RNG1)
    assert_outputs_close(got, np_forward(P, X, Mk, Y, hp, we=we_d))
    # A mask on the gather only (undropped LM head) is told apart.
    other = np_forward(P, X, Mk, Y, hp, we=we_d, we_head=P["model/we"])
    assert not np.allclose(got[2], other[2], atol=1e-3)


def test_clf_dropout_mask_shared_by_both_choices():
    p = 0.5
    hp = HP.replace(clf_pdrop=p)
    P = make_params()
    X, Mk, Y = make_batch()
    B, C = len(Y), N_EMBD
    # Read the mask feature by feature: with clf/w = e_j and clf/b = 0 the logits are
    # the (dropped) j-th feature of the pooled state of each choice.
    keep = np.zeros([B, C])
    for j in range(C):
        Pj = dict(P)
        Pj["model/clf/w"] = np.eye(C, dtype=np.float32)[:, j:j + 1]
        Pj["model/clf/b"] = np.zeros([1], np.float32)
        Pj = {k: tf.constant(v) for k, v in Pj.items()}
        ev = run(Pj, X, Mk, Y, hp, lm=False)[0]  # [B, 2]
        tr = run(Pj, X, Mk, Y, hp, rng=RNG1, lm=False)[0]
        assert (np.abs(ev) > 1e-4).all()
        dropped = tr == 0
        # Same decision for both choices of every example.
        np.testing.assert_array_equal(dropped[:, 0], dropped[:, 1], err_msg="feature %d" % j)
        np.testing.assert_allclose(tr[~dropped], ev[~dropped] / (1 - p), rtol=1e-5)
        keep[:, j] = np.where(dropped[:, 0], 0.0, 1 / (1 - p))
    assert (keep == 0).any() and (keep != 0).any()
    assert not (keep == keep[0]).all()  # one mask per example, not one per batch
    np.testing.assert_array_equal(
        keep, site_mask(RNG1, "model/clf/clf_pdrop", [B, 1, C], p)[:, 0, :].astype(np.float64))
    # With the real classifier weights: the reference on the masked pooled states.
    got = run(as_vars(P), X, Mk, Y, hp, rng=RNG1)
    assert_outputs_close(got, np_forward(P, X, Mk, Y, hp, clf_mask=keep))


# -- what the backward pass recomputes (memory) ---------------------------------------

def _grad(fn, x, dy, xla):
    """fn(x) and the tape's gradient of it under upstream dy: eagerly (xla None), as a
    graph (False) or compiled by XLA (True)."""
    def f(x, dy):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return y, tape.gradient(y, x, output_gradients=dy)
    if xla is not None:
        f = tf.function(f, jit_compile=xla, autograph=False)
    return [a.numpy() for a in f(tf.constant(x), tf.constant(dy))]


@pytest.mark.parametrize("xla", [None, False, True])
@pytest.mark.parametrize("shape", [[3, 5, 7], [1], [8], [2, 9]])
def test_pack_bits_round_trip(xla, shape):
    flags = np.random.RandomState(sum(shape)).rand(*shape) < 0.5
    def f(a):
        packed = ops.pack_bits(a)
        return packed, ops.unpack_bits(packed, tf.shape(a))
    if xla is not None:
        f = tf.function(f, jit_compile=xla, autograph=False)
    packed, back = f(tf.constant(flags))
    want = np.packbits(np.pad(flags.ravel(), (0, -flags.size % 8)), bitorder="little")
    np.testing.assert_array_equal(packed.numpy(), want)
    np.testing.assert_array_equal(back.numpy(), flags)


@pytest.mark.parametrize("xla", [False, True])
@pytest.mark.parametrize("noise_shape", [None, [4, 1, 7]])
def test_dropout_gradient_reads_the_packed_mask(xla, noise_shape):
    # ops.dropout keeps its mask packed for the backward pass: forward and gradient
    # must be stateless_dropout's (the kernel, no XLA) bit for bit.
    rs = np.random.RandomState(0)
    x = rs.randn(4, 3, 7).astype(np.float32)  # 84 and 28 flags: not whole bytes
    dy = rs.randn(4, 3, 7).astype(np.float32)
    seed = tf.random.experimental.stateless_fold_in(RNG1, zlib.crc32(b"site"))
    ref = lambda x: tf.nn.experimental.stateless_dropout(
        x, 0.3, seed=seed, rng_alg="philox", noise_shape=noise_shape)
    want_y, want_g = _grad(ref, x, dy, xla=False)
    got_y, got_g = _grad(lambda x: ops.dropout(x, 0.3, RNG1, "site", noise_shape), x, dy, xla)
    np.testing.assert_array_equal(got_y, want_y)
    np.testing.assert_array_equal(got_g, want_g)
    assert 0 < (got_g == 0).mean() < 0.7
    np.testing.assert_array_equal(got_g == 0, got_y == 0)


@pytest.mark.parametrize("xla", [False, True])
def test_dropout_gradient_of_a_gathered_matrix(xla):
    # Read by a gather only, the upstream gradient is an IndexedSlices.
    w = np.random.RandomState(1).randn(10, 4).astype(np.float32)

    @tf.function(jit_compile=xla, autograph=False)
    def f(w):
        with tf.GradientTape() as tape:
            tape.watch(w)
            y = tf.reduce_sum(tf.gather(ops.dropout(w, 0.5, RNG1, "we"), [1, 3, 3]))
        return tape.gradient(y, w)
    keep = site_mask(RNG1, "we", [10, 4], 0.5)
    want = np.zeros_like(w)
    want[[1, 3]] = keep[[1, 3]] * np.array([[1], [2]], np.float32)
    np.testing.assert_array_equal(f(tf.constant(w)).numpy(), want)


@pytest.mark.parametrize("xla", [None, False, True])
@pytest.mark.parametrize("afn", ["gelu", "swish", "relu"])
def test_recompute_gives_the_tapes_gradient(xla, afn):
    rs = np.random.RandomState(2)
    x = (3 * rs.randn(5, 7, 8)).astype(np.float32)
    dy = rs.randn(5, 7, 8).astype(np.float32)
    fn = ops.ACT_FNS[afn]
    want_y, want_g = _grad(fn, x, dy, xla)
    got_y, got_g = _grad(ops.recompute(fn), x, dy, xla)
    # Two code paths (two graphs that Grappler, oneDNN or XLA may fuse and vectorise
    # differently, e.g. with AVX-512 against AVX2): equal up to float32 round-off, not
    # bit for bit. The same path run twice gives the same bits.
    np.testing.assert_allclose(got_y, want_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_g, want_g, rtol=1e-5, atol=1e-6)
    again_y, again_g = _grad(ops.recompute(fn), x, dy, xla)
    np.testing.assert_array_equal(again_y, got_y)
    np.testing.assert_array_equal(again_g, got_g)


# -- variables ------------------------------------------------------------------------

def test_param_shapes_tiny():
    shapes = FineTuning(HP).param_shapes()
    C = N_EMBD
    block = [("attn/c_attn/w", [1, C, 3 * C]), ("attn/c_attn/b", [3 * C]),
             ("attn/c_proj/w", [1, C, C]), ("attn/c_proj/b", [C]),
             ("ln_1/g", [C]), ("ln_1/b", [C]),
             ("mlp/c_fc/w", [1, C, 4 * C]), ("mlp/c_fc/b", [4 * C]),
             ("mlp/c_proj/w", [1, 4 * C, C]), ("mlp/c_proj/b", [C]),
             ("ln_2/g", [C]), ("ln_2/b", [C])]
    expected = [("model/we", [N_VOCAB + N_SPECIAL + N_CTX, C])]
    for layer in range(2):
        expected += [("model/h%d/%s" % (layer, n), s) for n, s in block]
    expected += [("model/clf/w", [C, 1]), ("model/clf/b", [1])]
    assert len(shapes) == 1 + 12 * 2 + 2
    assert [(k, list(v)) for k, v in shapes.items()] == expected
    assert HP.n_we == 73
    # The transformer's variables, then the head's: nothing of the head in the former.
    assert [(k, list(v)) for k, v in variables.param_shapes(HP).items()] == expected[:-2]
    assert [(k, list(v)) for k, v in heads.param_shapes(HP).items()] == expected[-2:]


def test_param_shapes_full_size():
    hp = HParams(n_ctx=77, head="choice", n_seq=2, n_out=1)  # ROCStories' head
    shapes = FineTuning(hp).param_shapes()
    assert len(shapes) == 147
    names = list(shapes)
    assert names[0] == "model/we" and list(shapes["model/we"]) == [40478 + 3 + 77, 768]
    assert names[1] == "model/h0/attn/c_attn/w" and list(shapes[names[1]]) == [1, 768, 2304]
    assert names[-3] == "model/h11/ln_2/b"
    assert list(shapes["model/h11/mlp/c_proj/w"]) == [1, 3072, 768]
    assert names[-2:] == ["model/clf/w", "model/clf/b"]
    assert list(shapes["model/clf/w"]) == [768, 1] and list(shapes["model/clf/b"]) == [1]
    n_floats = sum(int(np.prod(s)) for s in shapes.values())
    # Released layers (116,534,784 floats minus the [512 + 40478, 768] embeddings)
    # plus our we and the classifier head.
    assert n_floats == 116534784 - (512 + 40478) * 768 + (40478 + 3 + 77) * 768 + 768 + 1
