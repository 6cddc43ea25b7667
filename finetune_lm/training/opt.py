"""Adam with the original's "weight decay fix", global-norm clipping and its schedules."""

import math

import tensorflow as tf


def warmup_cosine(x, warmup=0.002):
    s = tf.cast(x <= warmup, tf.float32)
    return s * (x / warmup) + (1 - s) * (0.5 * (1 + tf.cos(math.pi * x)))


def warmup_constant(x, warmup=0.002):
    s = tf.cast(x <= warmup, tf.float32)
    return s * (x / warmup) + (1 - s) * 1


def warmup_linear(x, warmup=0.002):
    s = tf.cast(x <= warmup, tf.float32)
    return (s * (x / warmup) + (1 - s)) * (1 - x)


SCHEDULES = {
    "warmup_cosine": warmup_cosine,
    "warmup_constant": warmup_constant,
    "warmup_linear": warmup_linear,
}


def adam(params, grads, m, v, t, hp):
    """One update of every parameter; returns (global norm before clipping, lr used).

    t is a float32 variable counting finished updates (the original's t): the bias
    correction uses t + 1, the schedule t / n_updates_total.
    """
    if hp.max_grad_norm > 0:
        grads, gnorm = tf.clip_by_global_norm(grads, hp.max_grad_norm)
    else:
        gnorm = tf.linalg.global_norm(grads)
    tt = t + 1
    lrt = hp.lr * tf.sqrt(1 - hp.b2 ** tt) / (1 - hp.b1 ** tt)
    lrt *= SCHEDULES[hp.lr_schedule](t / hp.n_updates_total, warmup=hp.lr_warmup)
    for p, g, mp, vp in zip(params, grads, m, v):
        mt = hp.b1 * mp + (1 - hp.b1) * g
        vt = hp.b2 * vp + (1 - hp.b2) * g * g
        step = mt / (tf.sqrt(vt) + hp.e)
        if (len(p.shape) > 1 or hp.vector_l2) and hp.l2 > 0:
            step = step + hp.l2 * p
        p.assign(p - lrt * step)
        mp.assign(mt)
        vp.assign(vt)
    t.assign(tt)
    return gnorm, lrt
