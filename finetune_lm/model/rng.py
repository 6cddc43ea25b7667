"""Stateless Philox draws that give the same bits with and without XLA.

TF's stateless_dropout draws other numbers under XLA than its CPU/GPU kernel does:
XLA's StatelessRandomGetKeyCounter keeps only the low 32 bits of each seed word, and
it turns random bits into floats differently. These functions compute the kernel's
key derivation and float conversion in plain ops, so a dropout mask is a pure
function of its seed on every path (tests/test_model.py pins them against
tf.nn.experimental.stateless_dropout).
"""

import zlib

import tensorflow as tf

_U32 = 0xFFFFFFFF


def _philox_keys(s0, s1):
    """StatelessRandomGetKeyCounter (Philox) of int64 seeds [s0, s1] (vectors: many at
    once), in plain int64 ops; returns (key, counter's high word), int64.

    The CPU/GPU kernel mixes all 64 bits of each seed word; XLA's keeps only the low
    32, so seeds with high bits (e.g. negative ones, which stateless_fold_in makes)
    draw other numbers under XLA. Computed here, the same way on every path: one
    Philox-4x32-10 block of the seed words under the kernel's fixed key."""
    mask = tf.constant(_U32, tf.int64)
    lo = lambda v: tf.bitwise.bitwise_and(v, mask)
    hi = lambda v: tf.bitwise.bitwise_and(tf.bitwise.right_shift(v, 32), mask)
    c = [lo(s0), hi(s0), lo(s1), hi(s1)]
    k = [tf.constant(0x3EC8F720, tf.int64), tf.constant(0x02461E29, tf.int64)]
    for r in range(10):
        p0 = c[0] * 0xD2511F53  # < 2**64 as unsigned: wraps to the right low 64 bits
        p1 = c[2] * 0xCD9E8D57
        c = [tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(hi(p1), c[1]), k[0]), lo(p1),
             tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(hi(p0), c[3]), k[1]), lo(p0)]
        if r < 9:
            k = [lo(k[0] + 0x9E3779B9), lo(k[1] + 0xBB67AE85)]
    return c[0] + tf.bitwise.left_shift(c[1], 32), c[2] + tf.bitwise.left_shift(c[3], 32)


def _as_key_counter(key, counter_hi):
    """Scalar int64 key and counter word -> the uint64 key [1], counter [2] of the V2 ops."""
    return (tf.bitcast(tf.reshape(key, [1]), tf.uint64),
            tf.bitcast(tf.stack([tf.constant(0, tf.int64), counter_hi]), tf.uint64))


def philox_key_counter(seed):
    seed = tf.cast(seed, tf.int64)
    return _as_key_counter(*_philox_keys(seed[0], seed[1]))


class SiteSeeds:
    """The dropout seeds of many sites under one rng, derived in one vectorised pass:
    site s draws with seed fold_in(rng, crc32(s)), as dropout() does site by site."""

    def __init__(self, rng, sites):
        self.rng = rng
        self.index = {s: i for i, s in enumerate(sites)}
        crcs = [zlib.crc32(s.encode()) for s in sites]
        # fold_in's first word ignores the data's value but not its dtype: int32 for a
        # crc below 2**31, int64 above (as tf.convert_to_tensor makes them).
        seed32 = stateless_fold_in(rng, 0)[0]
        seed64 = stateless_fold_in(rng, 2 ** 31)[0]
        wide = tf.constant([c >= 2 ** 31 for c in crcs])
        first = tf.where(wide, tf.fill([len(sites)], seed64), tf.fill([len(sites)], seed32))
        self.keys, self.counters = _philox_keys(first, tf.constant(crcs, tf.int64))

    def key_counter(self, site):
        i = self.index.get(site)
        if i is None:
            return philox_key_counter(stateless_fold_in(self.rng, zlib.crc32(site.encode())))
        return _as_key_counter(self.keys[i], self.counters[i])


def stateless_uniform(shape, seed=None, key_counter=None):
    """tf.random.stateless_uniform(shape, seed, alg="philox") bit for bit, also under XLA
    (whose own float conversion and seed handling differ from the kernel's)."""
    key, counter = key_counter or philox_key_counter(seed)
    bits = tf.raw_ops.StatelessRandomUniformFullIntV2(
        shape=shape, key=key, counter=counter, alg=1, dtype=tf.uint32)
    # The kernel's uint32 -> float: 23 low bits as the mantissa of [1, 2), minus 1.
    man = tf.bitwise.bitwise_or(tf.bitwise.bitwise_and(bits, tf.constant(0x7FFFFF, tf.uint32)),
                                tf.constant(127 << 23, tf.uint32))
    return tf.bitcast(man, tf.float32) - 1.0


def stateless_fold_in(seed, data):
    """tf.random.experimental.stateless_fold_in (Philox), also under XLA; as int64."""
    data = tf.convert_to_tensor(data)
    key, counter = philox_key_counter(seed)
    seed1 = tf.raw_ops.StatelessRandomUniformFullIntV2(
        shape=[], key=key, counter=counter, alg=1, dtype=data.dtype)
    # An int32 seed word is sign-extended by the kernels: so is it here.
    return tf.stack([tf.cast(seed1, tf.int64), tf.cast(data, tf.int64)])
