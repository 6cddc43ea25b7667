"""GPT-1's transformer as pure functions over named variables, as in the original
train.py: it ends at the hidden states and the (dropped) embedding matrix; the LM
loss reads those, and so do the task heads (finetune_lm/model/heads.py). It holds no
head: its variables are the language model's, exactly.

`p` maps each checkpoint name (`model/we`, `model/h0/attn/c_attn/w`, ...) to its
variable; functions are named after the scopes they read.
"""

import collections

import tensorflow as tf

from finetune_lm.model.ops import (ACT_FNS, check_shape, conv1d, dropout, matmul, norm,
                                   recompute, shape_list)
from finetune_lm.model.rng import SiteSeeds


# What `transformer` returns, whatever its arguments: h [N, T, C] the last hidden states,
# we [V, C] the embedding matrix after its dropout (the LM head's), present
# [N, L, 2, H, T, D] the keys and values of the new positions (None unless a past or
# with_present was given).
TransformerOutput = collections.namedtuple("TransformerOutput", ["h", "we", "present"])


def dropout_sites(hp):
    """The transformer's dropout sites (a task head adds its own: heads.DROPOUT_SITES)."""
    sites = ["model/we/embd_pdrop"]
    for layer in range(hp.n_layer):
        s = "model/h%d/" % layer
        sites += [s + "attn/attn_pdrop", s + "attn/resid_pdrop", s + "mlp/resid_pdrop"]
    return sites


def split_heads(x, n_head, k=False):
    """[B, T, C] -> [B, H, T, D] ([B, H, D, T] for keys, ready for q @ k)."""
    b, t, c = shape_list(x)
    x = tf.reshape(x, [b, t, n_head, c // n_head])  # [B, T, H, D]
    return tf.transpose(x, [0, 2, 3, 1] if k else [0, 2, 1, 3])


def merge_heads(x):
    """[B, H, T, D] -> [B, T, H*D]."""
    b, h, t, d = shape_list(x)
    return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, h * d])


def mask_attn_weights(w):
    n = shape_list(w)[-1]
    b = tf.reshape(tf.linalg.band_part(tf.ones([n, n]), -1, 0), [1, 1, n, n])
    return w * b + -1e9 * (1 - b)


def mask_past_attn_weights(w, n_past, past_len=None):
    """mask_attn_weights with `n_past` earlier keys in front of the new ones: w
    [N, H, T, n_past + T]; query i sees the past keys below `past_len` (a scalar
    tensor: a fixed-size cache filled that far; None: all n_past) and new keys 0..i
    (gpt-2's attention_mask, plus the fill level)."""
    t, s = shape_list(w)[-2:]
    i = tf.range(t)[:, None]
    j = tf.range(s)[None, :]
    seen = j - n_past <= i  # new keys up to the query (and every past one)
    if past_len is not None:
        seen = tf.logical_and(seen, tf.logical_or(j >= n_past, j < past_len))
    b = tf.reshape(tf.cast(seen, w.dtype), [1, 1, t, s])
    return w * b + -1e9 * (1 - b)


def _attn(q, k, v, hp, rng, scope, mask=mask_attn_weights):
    dtype = hp.compute_dtype
    w = matmul(q, k, dtype)  # [B, H, T, T] (T + n_past with a past)
    w = w * tf.math.rsqrt(tf.cast(shape_list(v)[-1], w.dtype))
    w = tf.nn.softmax(mask(w))
    w = dropout(w, hp.attn_pdrop, rng, scope + "/attn_pdrop")
    return matmul(w, v, dtype)  # [B, H, T, D]


def attn(p, scope, x, hp, rng, past=None, past_len=None, with_present=False):
    """Causal self-attention of x [B, T, C] -> [B, T, C].

    As gpt-2's src/model.py: `past` [B, 2, H, Tp, D] holds the keys and values of Tp
    earlier positions (attended by every new one; only the first `past_len` with a
    fixed-size cache, see mask_past_attn_weights), and `present` [B, 2, H, T, D] those
    of the new positions. Returns (a, present), present None unless a past is given or
    with_present; a is computed exactly as without any cache."""
    c = conv1d(p, scope + "/c_attn", x, hp.compute_dtype)  # [B, T, 3C]
    q, k, v = tf.split(c, 3, axis=2)  # 3 x [B, T, C]
    cached = past is not None or with_present
    present = None
    if past is None:
        a = _attn(split_heads(q, hp.n_head), split_heads(k, hp.n_head, k=True),
                  split_heads(v, hp.n_head), hp, rng, scope)
    if cached:
        kh, vh = split_heads(k, hp.n_head), split_heads(v, hp.n_head)  # [B, H, T, D]
        present = tf.stack([kh, vh], axis=1)  # [B, 2, H, T, D]
    if past is not None:
        pk, pv = tf.unstack(past, axis=1)  # [B, H, Tp, D]
        n_past = shape_list(pk)[2]
        keys = tf.transpose(tf.concat([pk, kh], axis=2), [0, 1, 3, 2])  # [B, H, D, Tp + T]
        a = _attn(split_heads(q, hp.n_head), keys, tf.concat([pv, vh], axis=2), hp, rng,
                  scope, mask=lambda w: mask_past_attn_weights(w, n_past, past_len))
    a = conv1d(p, scope + "/c_proj", merge_heads(a), hp.compute_dtype)  # [B, T, C]
    a = dropout(a, hp.resid_pdrop, rng, scope + "/resid_pdrop")
    return a, present


def mlp(p, scope, x, hp, rng):
    h = recompute(ACT_FNS[hp.afn])(conv1d(p, scope + "/c_fc", x, hp.compute_dtype))  # [B, T, 4C]
    h2 = conv1d(p, scope + "/c_proj", h, hp.compute_dtype)  # [B, T, C]
    return dropout(h2, hp.resid_pdrop, rng, scope + "/resid_pdrop")


def block(p, scope, x, hp, rng, past=None, past_len=None, with_present=False):
    """Post-LN block of the original: LN after each residual sum. Returns (h, present),
    present as attn's (None without a past or with_present)."""
    a, present = attn(p, scope + "/attn", x, hp, rng, past, past_len, with_present)
    n = norm(p, scope + "/ln_1", x + a)
    m = mlp(p, scope + "/mlp", n, hp, rng)
    h = norm(p, scope + "/ln_2", n + m)
    return h, present


def embed(X, we):
    """Sum of the token and position rows: X [N, T, 2] -> [N, T, C]."""
    return tf.reduce_sum(tf.gather(we, X), axis=2)


def past_shape(hp, batch_size=None, sequence=None):
    """Shape of the whole model's cache: [N, L, 2, H, T, D] (gpt-2's past_shape)."""
    return [batch_size, hp.n_layer, 2, hp.n_head, sequence, hp.n_embd // hp.n_head]


def transformer(p, X, hp, rng=None, past=None, past_len=None, with_present=False):
    """The pre-trained network: X [N, T, 2] (token ids, position ids) ->
    TransformerOutput(h [N, T, C], we [V, C], present). `we` is the embedding matrix
    after its dropout: the LM head ties to the same dropped matrix (one mask for the
    gather and the head, as the original).

    Sampling one position at a time (gpt-2's past): `past` [N, L, 2, H, Tp, D] holds
    every layer's keys and values of Tp earlier positions (X's position ids go on
    after them); `past_len` (a scalar tensor) marks only the first past_len of them
    as filled (a fixed-size cache, for static shapes under XLA). With a past, or
    with_present, `present` [N, L, 2, H, T, D] holds the keys and values of X's
    positions (else None). The hidden states' numbers are those of the plain path."""
    check_shape("X", X, [None, None, 2])
    if past is not None:
        check_shape("past", past, past_shape(hp))
    if rng is not None and not isinstance(rng, SiteSeeds):
        rng = SiteSeeds(rng, dropout_sites(hp))  # every site's seed in one pass
    we = dropout(p["model/we"], hp.embd_pdrop, rng, "model/we/embd_pdrop")  # [V, C]
    h = embed(X, we)  # [N, T, C]
    cached = past is not None or with_present
    pasts = tf.unstack(past, axis=1) if past is not None else [None] * hp.n_layer
    presents = []
    for layer, layer_past in enumerate(pasts):
        h, present = block(p, "model/h%d" % layer, h, hp, rng, layer_past, past_len, cached)
        presents.append(present)
    present = tf.stack(presents, axis=1) if cached else None  # [N, L, 2, H, T, D]
    return TransformerOutput(h, we, present)


def lm_logits(h, we, hp):
    """Next-token logits of every position through the tied `we`: [N, T, C] -> [N, T, V]."""
    n, t = shape_list(h)[:2]
    logits = matmul(tf.reshape(h, [-1, hp.n_embd]), we, hp.compute_dtype, transpose_b=True)
    return tf.reshape(logits, [n, t, -1])


def next_token_logits(params, X, hp, last=True):
    """The language model's next-token logits over the vocabulary's rows of we (not the
    special or position rows): X [N, T, 2] -> [N, T, n_vocab], or with last=False
    [N, T - 1, n_vocab] (the last position's prediction, which scores no token, not
    computed)."""
    out = transformer(params, X, hp)
    h = out.h if last else out.h[:, :-1]  # [N, T or T-1, C]
    return lm_logits(h, out.we[:hp.n_vocab], hp)


def lm_losses(h, we, X, M, hp):
    """Per-sequence masked mean of the next-token losses: h [N, T, C], X [N, T, 2],
    M [N, T] -> [N]."""
    t = shape_list(h)[1]
    lm_h = tf.reshape(h[:, :-1], [-1, hp.n_embd])  # [N(T-1), C]
    logits = matmul(lm_h, we, hp.compute_dtype, transpose_b=True)  # [N(T-1), V]
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
        logits=logits, labels=tf.reshape(X[:, 1:, 0], [-1]))
    losses = tf.reshape(losses, [-1, t - 1])  # [N, T-1]
    return tf.reduce_sum(losses * M[:, 1:], 1) / tf.reduce_sum(M[:, 1:], 1)  # [N]
