"""Tests for finetune_lm.training.opt (and one whole update through
finetune_lm.training.towers) against a NumPy transcription of docs/fidelity.md, "The
update: optimiser and schedule"."""

import math

import numpy as np
import pytest
import tensorflow as tf

from finetune_lm.model.hparams import HParams
from finetune_lm.training import opt, towers
from finetune_lm.training.objectives import FineTuning


# -- NumPy reference ------------------------------------------------------------

def np_schedule(name, x, w):
    warm = x <= w
    if name == "warmup_linear":
        return (x / w if warm else 1.0) * (1 - x)
    if name == "warmup_cosine":
        return x / w if warm else 0.5 * (1 + math.cos(math.pi * x))
    if name == "warmup_constant":
        return x / w if warm else 1.0
    raise KeyError(name)


def np_adam(ps, gs, ms, vs, s, hp):
    """One update, in place on float64 copies. s: updates before this one.
    Returns (global norm before clipping, lrt)."""
    gs = [np.asarray(g, np.float64) for g in gs]
    gnorm = math.sqrt(sum(float((g ** 2).sum()) for g in gs))
    if hp.max_grad_norm > 0 and gnorm > hp.max_grad_norm:
        gs = [g * hp.max_grad_norm / gnorm for g in gs]
    t = s + 1
    lrt = hp.lr * math.sqrt(1 - hp.b2 ** t) / (1 - hp.b1 ** t)
    lrt *= np_schedule(hp.lr_schedule, s / hp.n_updates_total, hp.lr_warmup)
    for p, g, m, v in zip(ps, gs, ms, vs):
        m[...] = hp.b1 * m + (1 - hp.b1) * g
        v[...] = hp.b2 * v + (1 - hp.b2) * g * g
        step = m / (np.sqrt(v) + hp.e)
        if (p.ndim > 1 or hp.vector_l2) and hp.l2 > 0:
            step = step + hp.l2 * p
        p[...] = p - lrt * step
    return gnorm, lrt


# -- schedules ---------------------------------------------------------------------

SCHEDULES = ["warmup_linear", "warmup_cosine", "warmup_constant"]


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("w, xs", [
    (0.25, [0.0, 0.125, 0.25, 0.375, 0.5, 0.75, 1.0]),    # 0.25 is exactly representable
    (0.5, [0.0, 0.25, 0.5, 0.625, 0.875]),
])
def test_schedule_formula(name, w, xs):
    fn = opt.SCHEDULES[name]
    for x in xs:
        got = float(fn(tf.constant(x, tf.float32), warmup=w))
        assert got == pytest.approx(np_schedule(name, x, w), rel=1e-6, abs=1e-7), (x, w)


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_default_warmup(name):
    fn = opt.SCHEDULES[name]
    w = 0.002
    # Exactly at the warmup the warmup branch is taken: x / w == 1.
    at_w = {"warmup_linear": 1 - 0.002, "warmup_cosine": 1.0, "warmup_constant": 1.0}[name]
    assert float(fn(tf.constant(0.002, tf.float32))) == pytest.approx(at_w, rel=1e-6)
    for x in [0.0, 0.0005, 0.001, 0.003, 0.1, 0.5, 0.9]:
        got = float(fn(tf.constant(x, tf.float32)))
        assert got == pytest.approx(np_schedule(name, x, w), rel=1e-5, abs=1e-7), x


def test_schedule_boundary_tells_branches_apart():
    """At x == w cosine gives 1 (warmup branch), not 0.5 (cosine of pi/2)."""
    assert float(opt.warmup_cosine(tf.constant(0.5), warmup=0.5)) == pytest.approx(1.0)
    assert float(opt.warmup_cosine(tf.constant(0.5 + 1e-6), warmup=0.5)) == pytest.approx(0.5, abs=1e-5)


# -- Adam against the reference ------------------------------------------------------

SHAPES = [[5], [4, 3], [1, 3, 6]]  # ranks 1, 2, 3
NORMS = [0.3, 3.0, 0.8, 7.0, 0.5, 2.0]  # global norms of the 6 gradients; clip at 1


def opt_hp(**kw):
    base = dict(lr=0.05, lr_warmup=0.5, n_updates_total=6, l2=0.1, max_grad_norm=1.0,
                b1=0.9, b2=0.999, e=1e-8)
    base.update(kw)
    return HParams(**base)


def fixed_grads(seed=0):
    rs = np.random.RandomState(seed)
    out = []
    for n in NORMS:
        gs = [rs.randn(*s) for s in SHAPES]
        scale = n / math.sqrt(sum((g ** 2).sum() for g in gs))
        out.append([(g * scale).astype(np.float32) for g in gs])
    return out


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("vector_l2", [False, True])
def test_adam_matches_reference(schedule, vector_l2):
    hp = opt_hp(lr_schedule=schedule, vector_l2=vector_l2)
    rs = np.random.RandomState(1)
    init = [rs.randn(*s).astype(np.float32) for s in SHAPES]
    params = [tf.Variable(a) for a in init]
    m = [tf.Variable(tf.zeros(s)) for s in SHAPES]
    v = [tf.Variable(tf.zeros(s)) for s in SHAPES]
    t = tf.Variable(0.0)
    rp = [a.astype(np.float64) for a in init]
    rm = [np.zeros(s) for s in SHAPES]
    rv = [np.zeros(s) for s in SHAPES]
    lrts = []
    for s, gs in enumerate(fixed_grads()):
        gnorm, lrt = opt.adam(params, [tf.constant(g) for g in gs], m, v, t, hp)
        want_norm, want_lrt = np_adam(rp, gs, rm, rv, s, hp)
        lrts.append(want_lrt)
        assert float(gnorm) == pytest.approx(want_norm, rel=1e-5)
        assert float(lrt) == pytest.approx(want_lrt, rel=1e-5, abs=1e-12)
        assert float(t.numpy()) == s + 1
        for name, got, want in (("p", params, rp), ("m", m, rm), ("v", v, rv)):
            for i in range(len(SHAPES)):
                np.testing.assert_allclose(got[i].numpy(), want[i], rtol=1e-5, atol=1e-7,
                                           err_msg="%s[%d] after update %d" % (name, i, s + 1))
    # Both branches of the schedule ran: lr 0 at s = 0, rising, then decaying or flat.
    assert lrts[0] == 0 and lrts[1] > 0
    # The rank-1 parameter took (or not) the l2 term: compare with the other choice.
    other = np_replay(init, hp.replace(vector_l2=not vector_l2))
    assert not np.allclose(params[0].numpy(), other[0], rtol=1e-4)
    np.testing.assert_allclose(params[1].numpy(), other[1], rtol=1e-5, atol=1e-7)


def np_replay(init, hp):
    rp = [a.astype(np.float64) for a in init]
    rm = [np.zeros(a.shape) for a in init]
    rv = [np.zeros(a.shape) for a in init]
    for s, gs in enumerate(fixed_grads()):
        np_adam(rp, gs, rm, rv, s, hp)
    return rp


def test_adam_schedules_differ():
    """The three schedules give different parameters (so each comparison above bites)."""
    rs = np.random.RandomState(1)
    init = [rs.randn(*s).astype(np.float32) for s in SHAPES]
    outs = [np_replay(init, opt_hp(lr_schedule=n)) for n in SCHEDULES]
    assert not np.allclose(outs[0][1], outs[1][1], rtol=1e-4)
    assert not np.allclose(outs[0][1], outs[2][1], rtol=1e-4)
    assert not np.allclose(outs[1][1], outs[2][1], rtol=1e-4)


def _one_update(grads, hp):
    params = [tf.Variable(tf.ones(g.shape)) for g in grads]
    m = [tf.Variable(tf.zeros(g.shape)) for g in grads]
    v = [tf.Variable(tf.zeros(g.shape)) for g in grads]
    t = tf.Variable(0.0)
    gnorm, _ = opt.adam(params, [tf.constant(g) for g in grads], m, v, t, hp)
    return float(gnorm), [x.numpy() for x in m], [x.numpy() for x in v]


def test_clipping_to_max_grad_norm():
    rs = np.random.RandomState(3)
    gs = [rs.randn(*s) for s in SHAPES]
    scale = 5.0 / math.sqrt(sum((g ** 2).sum() for g in gs))
    gs = [(g * scale).astype(np.float32) for g in gs]
    gnorm, m, v = _one_update(gs, opt_hp(max_grad_norm=1.0))
    assert gnorm == pytest.approx(5.0, rel=1e-5)  # the norm before clipping
    for mi, vi, g in zip(m, v, gs):
        np.testing.assert_allclose(mi, 0.1 * g / 5.0, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(vi, 0.001 * (g / 5.0) ** 2, rtol=1e-4, atol=1e-10)
    clipped = math.sqrt(sum(((mi / 0.1) ** 2).sum() for mi in m))
    assert clipped == pytest.approx(1.0, rel=1e-5)


def test_no_clipping_below_max_or_when_zero():
    rs = np.random.RandomState(4)
    gs = [rs.randn(*s) for s in SHAPES]
    scale = 5.0 / math.sqrt(sum((g ** 2).sum() for g in gs))
    gs = [(g * scale).astype(np.float32) for g in gs]
    for hp in (opt_hp(max_grad_norm=0), opt_hp(max_grad_norm=6.0)):
        gnorm, m, _ = _one_update(gs, hp)
        assert gnorm == pytest.approx(5.0, rel=1e-5)
        for mi, g in zip(m, gs):
            np.testing.assert_allclose(mi, 0.1 * g, rtol=1e-5, atol=1e-8)


# -- one whole update through the towers ------------------------------------------------

TOWER_HP = HParams(n_vocab=60, n_special=3, n_ctx=10, n_embd=32, n_head=4, n_layer=2,
                   embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0, clf_pdrop=0.0,
                   clf_token=62, lm_coef=0.5, lr=0.01, lr_warmup=0.5, n_updates_total=10,
                   max_grad_norm=1.0, n_gpu=2, n_batch=2, seed=7,
                   head="choice", n_seq=2, n_out=1)


def tower_batch(hp, seed):
    rs = np.random.RandomState(seed)
    n, T = hp.n_batch_train, hp.n_ctx
    X = np.zeros([n, 2, T, 2], np.int32)
    Mk = np.zeros([n, 2, T], np.float32)
    X[:, :, :, 1] = hp.n_vocab + hp.n_special + np.arange(T)
    for b in range(n):
        for c in range(2):
            L = rs.randint(3, T + 1)
            X[b, c, :L, 0] = rs.randint(0, hp.n_vocab, size=L)
            X[b, c, 0, 0] = hp.n_vocab
            X[b, c, L - 1, 0] = hp.clf_token
            Mk[b, c, :L] = 1
    Y = rs.randint(0, 2, size=n).astype(np.int32)
    return X, Mk, Y


def full_batch_grads(arrays, X, Mk, Y, hp):
    """Gradient of mean(clf) + lm_coef * mean(lm) over the whole concatenated batch."""
    names = list(FineTuning(hp).param_shapes())
    p = {n: tf.Variable(a) for n, a in zip(names, arrays)}
    with tf.GradientTape() as tape:
        logits, clf_l, lm_l = FineTuning(hp).forward(p, tf.constant(X), tf.constant(Mk),
                                                     tf.constant(Y))
        loss = tf.reduce_mean(clf_l) + hp.lm_coef * tf.reduce_mean(lm_l)
    grads = tape.gradient(loss, [p[n] for n in names])
    return [tf.convert_to_tensor(g).numpy() for g in grads], logits.numpy(), clf_l.numpy()


def test_mgpu_train_update_matches_reference():
    hp = TOWER_HP
    objective = FineTuning(hp)
    strategy = towers.make_strategy(2)
    state = towers.TrainState(strategy, hp, objective.param_shapes())
    train = towers.mgpu_train(state, objective)
    # Start from update 2 with filled Adam slots: the update then depends on every
    # gradient entry smoothly (fresh slots turn round-off in gradients that are zero
    # in exact arithmetic, such as clf/b's, into +-lrt steps).
    rs = np.random.RandomState(11)
    shapes = list(objective.param_shapes().values())
    m0 = [(1e-3 * rs.randn(*s)).astype(np.float32) for s in shapes]
    v0 = [rs.uniform(1e-6, 1e-4, size=s).astype(np.float32) for s in shapes]
    for var, a in zip(state.m, m0):
        var.assign(a)
    for var, a in zip(state.v, v0):
        var.assign(a)
    state.t.assign(2.0)
    rp = [a.astype(np.float64) for a in state.get_params()]
    rm = [a.astype(np.float64) for a in m0]
    rv = [a.astype(np.float64) for a in v0]
    clipped = False
    for s, seed in ((2, 0), (3, 1)):
        X, Mk, Y = tower_batch(hp, seed)
        grads, logits, losses = full_batch_grads([a.astype(np.float32) for a in rp], X, Mk, Y, hp)
        before = [a.copy() for a in rp]
        want_norm, want_lrt = np_adam(rp, grads, rm, rv, s, hp)
        clipped |= want_norm > hp.max_grad_norm
        got_loss, (got_logits, got_losses), gnorm, lrt = train(X, Mk, Y)
        # The loss the step reports: the mean classification loss (the original's train
        # cost; FineTuning.reported_loss), over the towers as over the whole batch.
        assert float(got_loss) == pytest.approx(float(losses.mean()), rel=1e-5)
        np.testing.assert_allclose(got_logits, logits, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got_losses, losses, rtol=1e-5, atol=1e-6)
        assert float(gnorm) == pytest.approx(want_norm, rel=1e-5)
        assert float(lrt) == pytest.approx(want_lrt, rel=1e-5)
        assert float(state.t.numpy()) == s + 1
        names = list(objective.param_shapes())
        for i, name in enumerate(names):
            np.testing.assert_allclose(state.params[name].numpy(), rp[i], rtol=1e-5, atol=1e-7,
                                       err_msg="%s after update %d" % (name, s + 1))
            np.testing.assert_allclose(state.m[i].numpy(), rm[i], rtol=1e-5, atol=1e-8,
                                       err_msg="m " + name)
            np.testing.assert_allclose(state.v[i].numpy(), rv[i], rtol=1e-5, atol=1e-10,
                                       err_msg="v " + name)
        # The update moved every parameter well beyond the tolerance.
        assert min(np.abs(a - b).max() for a, b in zip(rp, before)) > 1e-5
    assert clipped  # the clipping branch ran at least once
