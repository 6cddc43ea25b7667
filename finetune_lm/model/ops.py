"""The primitives the transformer and the heads are built of: activations, stateless
dropout (its mask a pure function of (rng, site)), layer norm, the mixed-precision
matmul, the original's `conv1d`, and the shape checks.

Dropout is stateless: every draw is a function of (`rng`, site name), so a tower's
masks do not depend on the device it runs on (the original's stateful draws did).
"""

import math
import zlib

import numpy as np
import tensorflow as tf

try:  # XLA's optimization barrier, and how TF tells that a graph is being compiled by XLA
    from tensorflow.compiler.tf2xla.ops.gen_xla_ops import xla_optimization_barrier
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext
except ImportError:  # not in this TF: the barrier is the identity (more memory, same numbers)
    xla_optimization_barrier = GraphOrParentsInXlaContext = None

from finetune_lm.model.rng import SiteSeeds, philox_key_counter, stateless_fold_in, stateless_uniform


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


def init_value(name, shape, seed):
    """The original's initialisers: N(0, 0.02) weights, zero biases, unit LN gains.

    Each array has its own generator keyed by (seed, name), so the global numpy
    generator stays for the draws docs/fidelity.md orders (special rows, shuffles).
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


def check_shape(name, x, expected):
    """ValueError naming tensor `name` unless its static shape fits `expected` (None: any)."""
    shape = x.shape.as_list()
    if len(shape) != len(expected) or any(
            e is not None and s is not None and s != e for s, e in zip(shape, expected)):
        raise ValueError("%s has shape %s; expected %s" % (name, shape, expected))
