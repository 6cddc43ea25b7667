"""Sampling from the language model with gpt-2's past: the prompt runs through the
transformer once, keeping every layer's keys and values; each new token then runs
alone at its position, attending to that cache (a fixed-size buffer, prompt + length -
1 positions), the whole generation one tf.function with a while loop. Draws are
stateless (Gumbel-max over Philox uniforms seeded by (seed, step)). Only the token rows
of the embedding are candidates.
"""

import re

import numpy as np
import tensorflow as tf

try:  # XLA's DynamicUpdateSlice (compiled programs only)
    from tensorflow.compiler.tf2xla.python.xla import dynamic_update_slice as xla_dynamic_update_slice
except ImportError:
    xla_dynamic_update_slice = None

from finetune_lm.model.rng import stateless_fold_in, stateless_uniform
from finetune_lm.model.transformer import lm_logits, past_shape, transformer

NEG = -1e10  # the logit of a filtered-out token (gpt-2's top_k_logits)


def top_k_logits(logits, k):
    """Keep the k largest logits of each row (ties with the k-th kept too)."""
    values, _ = tf.math.top_k(logits, k=k)
    return tf.where(logits < values[:, -1:], tf.constant(NEG, logits.dtype), logits)


def top_p_logits(logits, p):
    """Nucleus filtering: keep the smallest set of most likely tokens whose
    probability reaches p (at least one)."""
    sorted_logits = tf.sort(logits, direction="DESCENDING", axis=-1)
    before = tf.cumsum(tf.nn.softmax(sorted_logits, axis=-1), axis=-1, exclusive=True)
    n_keep = tf.maximum(tf.reduce_sum(tf.cast(before < p, tf.int32), axis=-1), 1)  # [B]
    smallest = tf.gather(sorted_logits, n_keep - 1, batch_dims=1)[:, None]
    return tf.where(logits < smallest, tf.constant(NEG, logits.dtype), logits)


def choose(logits, seed, step, temperature=1.0, top_k=0, top_p=1.0):
    """The next token of each row of logits [B, V]: argmax with top_k 1, else a draw
    from softmax(logits / temperature) restricted by top_k (0: off) and top_p (1: off).
    The draw is Gumbel-max over Philox uniforms seeded by fold_in(seed, step): the same
    bits with or without XLA (finetune_lm.model.rng)."""
    if top_k == 1:
        return tf.argmax(logits, -1, output_type=tf.int32)
    logits = logits / temperature
    if top_k > 0:
        logits = top_k_logits(logits, top_k)
    if top_p < 1:
        logits = top_p_logits(logits, top_p)
    u = stateless_uniform(tf.shape(logits), seed=stateless_fold_in(seed, step))  # [0, 1)
    gumbel = -tf.math.log(-tf.math.log(u))  # u = 0: -inf, never the argmax
    return tf.argmax(logits + gumbel, -1, output_type=tf.int32)


def _seed(seed):
    return tf.constant([seed, 0x5A3E], tf.int64)


class Sampler:
    """n_samples continuations of `length` tokens after a prompt of n_prompt tokens,
    one compiled program (see the module's docstring). Call with (prompt ids, seed);
    returns tokens [n_samples, length] (and logits [n_samples, length, n_vocab], the
    distributions they were drawn from before filtering, with return_logits)."""

    def __init__(self, params, hp, n_samples, n_prompt, length, temperature=1.0, top_k=0,
                 top_p=1.0, xla=None, return_logits=False):
        if n_prompt < 1 or length < 1 or n_prompt + length - 1 > hp.n_ctx:
            raise ValueError("a prompt of %d and %d new tokens do not fit %d positions"
                             % (n_prompt, length, hp.n_ctx))
        self.params, self.hp = params, hp
        self.n_samples, self.n_prompt, self.length = n_samples, n_prompt, length
        self.pick = dict(temperature=temperature, top_k=top_k, top_p=top_p)
        self.return_logits = return_logits
        self._xla = bool(hp.xla if xla is None else xla)
        self._fn = tf.function(self._sample, autograph=False, jit_compile=self._xla)

    @property
    def tracing_count(self):
        return self._fn.experimental_get_tracing_count()

    def _logits(self, h, we):
        return lm_logits(h[:, -1:], we, self.hp)[:, 0, :self.hp.n_vocab]  # tokens only

    def _sample(self, prompt, seed):
        hp, B, Tc, L = self.hp, self.n_samples, self.n_prompt, self.length
        pos0 = hp.n_vocab + hp.n_special
        X = tf.stack([tf.tile(prompt[None], [B, 1]),
                      tf.tile(pos0 + tf.range(Tc)[None], [B, 1])], axis=2)  # [B, Tc, 2]
        out = transformer(self.params, X, hp, with_present=True)
        present = out.present  # [B, L, 2, H, Tc, D]
        logits = self._logits(out.h, out.we)
        tok = choose(logits, seed, 0, **self.pick)
        toks = tf.TensorArray(tf.int32, size=L, element_shape=[B]).write(0, tok)
        logs = tf.TensorArray(tf.float32, size=L if self.return_logits else 1,
                              element_shape=[B, hp.n_vocab])
        logs = logs.write(0, logits)
        n_buf = Tc + L - 1  # every position that is ever fed
        cache = tf.concat([present, tf.zeros(past_shape(hp, B, L - 1))], axis=4)

        def body(i, tok, cache, toks, logs):
            pos = Tc + i  # the position of `tok`, the newest token
            x = tf.stack([tok, tf.fill([B], pos0 + pos)], axis=1)[:, None]  # [B, 1, 2]
            out = transformer(self.params, x, hp, past=cache, past_len=pos)
            present = out.present  # [B, L, 2, H, 1, D]
            if self._xla and xla_dynamic_update_slice is not None:
                # The new position's keys and values written in place: the same values as
                # the select below, which read and wrote the whole cache every step.
                cache = xla_dynamic_update_slice(cache, present, [0, 0, 0, 0, pos, 0])
            else:
                slot = tf.reshape(tf.equal(tf.range(n_buf), pos), [1, 1, 1, 1, n_buf, 1])
                cache = tf.where(slot, present, cache)
            logits = self._logits(out.h, out.we)
            tok = choose(logits, seed, i + 1, **self.pick)
            if self.return_logits:
                logs = logs.write(i + 1, logits)
            return i + 1, tok, cache, toks.write(i + 1, tok), logs

        _, _, _, toks, logs = tf.while_loop(
            lambda i, *_: i < L - 1, body, (tf.constant(0), tok, cache, toks, logs))
        tokens = tf.transpose(toks.stack())  # [B, L]
        if self.return_logits:
            return tokens, tf.transpose(logs.stack(), [1, 0, 2])
        return tokens

    def __call__(self, prompt, seed=0):
        prompt = np.asarray(prompt, np.int32)
        if prompt.shape != (self.n_prompt,):
            raise ValueError("prompt has shape %s; expected [%d]" % (prompt.shape, self.n_prompt))
        out = self._fn(tf.constant(prompt), _seed(seed))
        if self.return_logits:
            return out[0].numpy(), out[1].numpy()
        return out.numpy()


def sample_without_cache(params, hp, prompt, n_samples, length, seed=0, temperature=1.0,
                         top_k=0, top_p=1.0):
    """The same draws as Sampler, running the whole prefix through the transformer for
    every token (the reference the cache must equal; slow). Returns (tokens [B, L],
    logits [B, L, n_vocab])."""
    pos0 = hp.n_vocab + hp.n_special
    seq = np.tile(np.asarray(prompt, np.int32)[None], [n_samples, 1])
    toks, logs = [], []
    for step in range(length):
        t = seq.shape[1]
        X = np.stack([seq, np.tile(pos0 + np.arange(t, dtype=np.int32), [n_samples, 1])], 2)
        out = transformer(params, tf.constant(X), hp)
        logits = lm_logits(out.h[:, -1:], out.we, hp)[:, 0, :hp.n_vocab]
        tok = choose(logits, _seed(seed), step, temperature, top_k, top_p).numpy()
        toks.append(tok)
        logs.append(logits.numpy())
        seq = np.concatenate([seq, tok[:, None]], 1)
    return np.stack(toks, 1), np.stack(logs, 1)


def decode(ids, decoder):
    """Text of BPE ids: pieces joined, '</w>' ends a word (a space), newlines kept, the
    spacing around punctuation as the encoder split it ("hello , world .")."""
    text = "".join(decoder.get(int(i), "") for i in ids).replace("</w>", " ")
    return re.sub(r" *\n *", "\n", text).rstrip(" ")


def fit_prompt(ids, length, n_ctx, warn=None):
    """The prompt's ids that fit with `length` new tokens in n_ctx positions (the last
    ones: the prompt is cut from the left), warning through `warn` when cut."""
    keep = n_ctx - length + 1
    if len(ids) > keep:
        if warn:
            warn("warning: the prompt's %d tokens and --length %d do not fit the model's %d "
                 "positions; keeping the prompt's last %d tokens" % (len(ids), length, n_ctx,
                                                                      keep))
        ids = ids[len(ids) - keep:]
    return ids
