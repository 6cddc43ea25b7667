"""GPT-1 as pure functions over named variables, as in the original train.py.

`p` maps each checkpoint name (`model/we`, `model/h0/attn/c_attn/w`, ...) to its
variable; functions are named after the scopes they read. Dropout is stateless:
every draw is a function of (`rng`, site name), so a tower's masks do not depend
on the device it runs on (the original's stateful draws did).
"""

import collections
import math
import zlib

import numpy as np
import tensorflow as tf

try:  # XLA's optimization barrier, and how TF tells that a graph is being compiled by XLA
    from tensorflow.compiler.tf2xla.ops.gen_xla_ops import xla_optimization_barrier
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext
except ImportError:  # not in this TF: the barrier is the identity (more memory, same numbers)
    xla_optimization_barrier = GraphOrParentsInXlaContext = None

from .rng import SiteSeeds, philox_key_counter, stateless_fold_in, stateless_uniform


def gelu(x):
    return 0.5 * x * (1 + tf.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * tf.pow(x, 3))))


def swish(x):
    return x * tf.nn.sigmoid(x)


ACT_FNS = {"relu": tf.nn.relu, "swish": swish, "gelu": gelu}


def barrier(*tensors):
    """The tensors unchanged, available only once all of them are: under XLA through its
    optimization barrier, which XLA also does not fuse across nor merge (CSE) with equal
    work on the other side; elsewhere as identities under control dependencies."""
    if xla_optimization_barrier is not None and GraphOrParentsInXlaContext(
            tf.compat.v1.get_default_graph()):
        return tuple(xla_optimization_barrier(list(tensors)))
    with tf.control_dependencies(tensors):
        return tuple(tf.identity(t) for t in tensors)


def recompute(fn):
    """fn(x), whose gradient recomputes fn's intermediates from x in the backward pass
    instead of keeping them from the forward pass: under XLA GELU kept a third [B, T, 4C]
    tensor besides its input and output (180 MB at 8 x 2 x 77 with GPT-1's shape). The
    backward runs the ops the tape would have run, on the same values: the same bits
    (up to Grappler rewriting the two graphs apart, without XLA)."""
    @tf.custom_gradient
    def f(x):
        def grad(dy):
            # Through the barrier with dy: the recomputation waits for the backward pass
            # (the plain graph ran it as soon as x existed), and XLA does not merge it
            # back into the forward's (which kept the tensor: measured).
            xb, dy = barrier(x, dy)
            with tf.GradientTape() as tape:
                tape.watch(xb)
                y = fn(xb)
            return tape.gradient(y, xb, output_gradients=dy)
        return fn(x), grad
    return f


# Block variables in the released (and checkpoint) order.
BLOCK_PARAMS = (
    "attn/c_attn/w", "attn/c_attn/b", "attn/c_proj/w", "attn/c_proj/b",
    "ln_1/g", "ln_1/b",
    "mlp/c_fc/w", "mlp/c_fc/b", "mlp/c_proj/w", "mlp/c_proj/b",
    "ln_2/g", "ln_2/b",
)


def param_shapes(hp):
    """Ordered {name: shape} of every trainable variable, in the original's order."""
    nx = hp.n_embd
    shapes = collections.OrderedDict()
    shapes["model/we"] = [hp.n_we, nx]
    block = [[1, nx, 3 * nx], [3 * nx], [1, nx, nx], [nx], [nx], [nx],
             [1, nx, 4 * nx], [4 * nx], [1, 4 * nx, nx], [nx], [nx], [nx]]
    for layer in range(hp.n_layer):
        for name, shape in zip(BLOCK_PARAMS, block):
            shapes["model/h%d/%s" % (layer, name)] = shape
    # The task head (finetune_lm/heads.py): one score per sequence for multiple
    # choice, one per class otherwise.
    shapes["model/clf/w"] = [nx, hp.n_out]
    shapes["model/clf/b"] = [hp.n_out]
    return shapes


def init_value(name, shape, seed):
    """The original's initialisers: N(0, 0.02) weights, zero biases, unit LN gains.

    Each array has its own generator keyed by (seed, name), so the global numpy
    generator stays for the draws FIDELITY.md orders (special rows, shuffles).
    """
    leaf = name.rsplit("/", 1)[1]
    if leaf == "g":
        return np.ones(shape, np.float32)
    if leaf == "b":
        return np.zeros(shape, np.float32)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)


def shape_list(x):
    static = x.shape.as_list()
    dynamic = tf.shape(x)
    return [dynamic[i] if s is None else s for i, s in enumerate(static)]


def dropout_sites(hp):
    sites = ["model/we/embd_pdrop", "model/clf/clf_pdrop"]
    for layer in range(hp.n_layer):
        s = "model/h%d/" % layer
        sites += [s + "attn/attn_pdrop", s + "attn/resid_pdrop", s + "mlp/resid_pdrop"]
    return sites


_BIT_INDEX = np.arange(8, dtype=np.uint8)


def pack_bits(flags):
    """bool [...] -> uint8 [ceil(n / 8)], flag i in bit i % 8 of byte i // 8."""
    flat = tf.cast(tf.reshape(flags, [-1]), tf.uint8)
    flat = tf.pad(flat, [[0, tf.math.floormod(-tf.size(flat), 8)]])  # [8 ceil(n / 8)]
    bits = tf.bitwise.left_shift(tf.reshape(flat, [-1, 8]), tf.constant(_BIT_INDEX))
    return tf.reduce_sum(bits, axis=1)  # distinct bits: their sum is their OR


def unpack_bits(packed, shape):
    """pack_bits' inverse: uint8 [ceil(n / 8)] -> bool of `shape`."""
    bits = tf.bitwise.right_shift(packed[:, None], tf.constant(_BIT_INDEX))  # [n / 8, 8]
    flat = tf.reshape(tf.bitwise.bitwise_and(bits, 1), [-1])[:tf.reduce_prod(shape)]
    return tf.reshape(tf.cast(flat, tf.bool), shape)


def dropout(x, pdrop, rng, site, noise_shape=None):
    """Inverted dropout whose mask is a pure function of (rng, site); rng None = eval.

    Equal to tf.nn.experimental.stateless_dropout(x, pdrop, seed=fold_in(rng, crc(site)),
    rng_alg="philox"), with or without XLA. rng: a [2] int64 seed or a SiteSeeds."""
    if rng is None or pdrop <= 0:
        return x
    if isinstance(rng, SiteSeeds):
        key_counter = rng.key_counter(site)
    else:
        key_counter = philox_key_counter(stateless_fold_in(rng, zlib.crc32(site.encode())))
    shape = tf.shape(x) if noise_shape is None else noise_shape
    keep = stateless_uniform(shape, key_counter=key_counter) >= pdrop
    scale, zero = tf.constant(1 / (1 - pdrop), x.dtype), tf.zeros((), x.dtype)
    # The backward pass reads the mask packed 8 flags a byte: left to itself, XLA kept the
    # 32-bit draws for it (270 MB at 8 x 2 x 77 with GPT-1's shape); drawing them again
    # in the backward pass cost 10% of the step (XLA's Philox is slow on CPU).
    packed = pack_bits(keep)

    @tf.custom_gradient
    def drop(x):
        def grad(dy):
            # The tape's gradient of the forward expression, on the same mask.
            dy = tf.convert_to_tensor(dy)  # IndexedSlices when only a gather read x
            return tf.where(unpack_bits(packed, tf.shape(keep)), dy, tf.zeros_like(dy)) * scale
        return tf.where(keep, x * scale, zero), grad

    return drop(tf.convert_to_tensor(x))


def norm(p, scope, x, e=1e-5):
    u = tf.reduce_mean(x, axis=-1, keepdims=True)
    s = tf.reduce_mean(tf.square(x - u), axis=-1, keepdims=True)
    return (x - u) * tf.math.rsqrt(s + e) * p[scope + "/g"] + p[scope + "/b"]


def matmul(a, b, dtype=None, **kwargs):
    """tf.matmul computed in `dtype` (None or float32: as is), the result in float32.

    The mixed-precision path: only matmuls run in bfloat16/float16; softmax, layer
    norm, GELU, dropout and the losses stay in float32."""
    if dtype is None or dtype == "float32":
        return tf.matmul(a, b, **kwargs)
    return tf.cast(tf.matmul(tf.cast(a, dtype), tf.cast(b, dtype), **kwargs), tf.float32)


def conv1d(p, scope, x, dtype=None):
    """The original's rf=1 convolution: a matmul over the last axis, w stored [1, nx, nf]."""
    w, b = p[scope + "/w"], p[scope + "/b"]
    nx, nf = w.shape[-2], w.shape[-1]
    start = shape_list(x)[:-1]
    c = matmul(tf.reshape(x, [-1, nx]), tf.reshape(w, [nx, nf]), dtype) + b  # [N, nf]
    return tf.reshape(c, start + [nf])


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
    of the new positions. Returns (a, present) when a past is given or with_present,
    else a alone, computed exactly as without any cache."""
    c = conv1d(p, scope + "/c_attn", x, hp.compute_dtype)  # [B, T, 3C]
    q, k, v = tf.split(c, 3, axis=2)  # 3 x [B, T, C]
    cached = past is not None or with_present
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
    return (a, present) if cached else a


def mlp(p, scope, x, hp, rng):
    h = recompute(ACT_FNS[hp.afn])(conv1d(p, scope + "/c_fc", x, hp.compute_dtype))  # [B, T, 4C]
    h2 = conv1d(p, scope + "/c_proj", h, hp.compute_dtype)  # [B, T, C]
    return dropout(h2, hp.resid_pdrop, rng, scope + "/resid_pdrop")


def block(p, scope, x, hp, rng, past=None, past_len=None, with_present=False):
    """Post-LN block of the original: LN after each residual sum. With a past (or
    with_present) returns (h, present), as attn."""
    cached = past is not None or with_present
    a = attn(p, scope + "/attn", x, hp, rng, past, past_len, with_present)
    if cached:
        a, present = a
    n = norm(p, scope + "/ln_1", x + a)
    m = mlp(p, scope + "/mlp", n, hp, rng)
    h = norm(p, scope + "/ln_2", n + m)
    return (h, present) if cached else h


def embed(X, we):
    """Sum of the token and position rows: X [N, T, 2] -> [N, T, C]."""
    return tf.reduce_sum(tf.gather(we, X), axis=2)


def _check(name, x, expected):
    shape = x.shape.as_list()
    if len(shape) != len(expected) or any(
            e is not None and s is not None and s != e for s, e in zip(shape, expected)):
        raise ValueError("%s has shape %s; expected %s" % (name, shape, expected))


def past_shape(hp, batch_size=None, sequence=None):
    """Shape of the whole model's cache: [N, L, 2, H, T, D] (gpt-2's past_shape)."""
    return [batch_size, hp.n_layer, 2, hp.n_head, sequence, hp.n_embd // hp.n_head]


def transformer(p, X, hp, rng=None, past=None, past_len=None, with_present=False):
    """The pre-trained network: X [N, T, 2] (token ids, position ids) -> (h [N, T, C],
    we [V, C]). `we` is the embedding matrix after its dropout: the LM head ties to
    the same dropped matrix (one mask for the gather and the head, as the original).

    Sampling one position at a time (gpt-2's past): `past` [N, L, 2, H, Tp, D] holds
    every layer's keys and values of Tp earlier positions (X's position ids go on
    after them); `past_len` (a scalar tensor) marks only the first past_len of them
    as filled (a fixed-size cache, for static shapes under XLA). With a past, or
    with_present, returns (h, we, present), present [N, L, 2, H, T, D] the keys and
    values of X's positions. Without, the numbers are those of the plain path."""
    _check("X", X, [None, None, 2])
    if past is not None:
        _check("past", past, past_shape(hp))
    if rng is not None and not isinstance(rng, SiteSeeds):
        rng = SiteSeeds(rng, dropout_sites(hp))  # every site's seed in one pass
    we = dropout(p["model/we"], hp.embd_pdrop, rng, "model/we/embd_pdrop")  # [V, C]
    h = embed(X, we)  # [N, T, C]
    if past is None and not with_present:
        for layer in range(hp.n_layer):
            h = block(p, "model/h%d" % layer, h, hp, rng)
        return h, we
    pasts = tf.unstack(past, axis=1) if past is not None else [None] * hp.n_layer
    presents = []
    for layer, layer_past in enumerate(pasts):
        h, present = block(p, "model/h%d" % layer, h, hp, rng, layer_past, past_len, True)
        presents.append(present)
    return h, we, tf.stack(presents, axis=1)  # [N, L, 2, H, T, D]


def lm_logits(h, we, hp):
    """Next-token logits of every position through the tied `we`: [N, T, C] -> [N, T, V]."""
    n, t = shape_list(h)[:2]
    logits = matmul(tf.reshape(h, [-1, hp.n_embd]), we, hp.compute_dtype, transpose_b=True)
    return tf.reshape(logits, [n, t, -1])


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


def model(p, X, M, Y, hp, rng=None, lm=True):
    """Forward pass and losses of one tower: transformer, task head, LM loss.

    X: [B, K, n_ctx, 2] int32 (token ids, position ids), K = hp.n_seq sequences per
    example; M: [B, K, n_ctx] float32 mask; Y: the head's targets ([B] int32 labels,
    or [B, n_out] float32 soft targets, see heads.loss); rng: [2] int64 seed of this
    tower's dropout draws, or None for evaluation. Returns clf_logits [B, n_out]
    ([B, K] for a multiple-choice head), clf_losses [B], lm_losses [BK] (per-sequence
    masked mean; None with lm=False, which skips the LM head: evaluation reads only
    the classifier).
    """
    from . import heads
    k = hp.n_seq
    _check("X", X, [None, k, hp.n_ctx, 2])
    _check("M", M, [None, k, hp.n_ctx])
    _check("Y", Y, [None] if not hp.soft_targets else [None, hp.n_out])
    if rng is not None and not isinstance(rng, SiteSeeds):
        rng = SiteSeeds(rng, dropout_sites(hp))
    X = tf.reshape(X, [-1, hp.n_ctx, 2])  # [BK, T, 2]
    M = tf.reshape(M, [-1, hp.n_ctx])  # [BK, T]
    h, we = transformer(p, X, hp, rng)  # [BK, T, C]
    lm = lm_losses(h, we, X, M, hp) if lm else None  # [BK]
    clf_logits = heads.HEADS[hp.head](p, h, X, hp, rng)  # [B, n_out]
    return clf_logits, heads.loss(clf_logits, Y, hp), lm


def train_loss(clf_losses, lm_losses, hp):
    loss = tf.reduce_mean(clf_losses)
    if hp.lm_coef > 0 and lm_losses is not None:
        loss += hp.lm_coef * tf.reduce_mean(lm_losses)
    return loss
