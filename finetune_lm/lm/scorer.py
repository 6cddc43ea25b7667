"""The language model's loss over long texts: windows of n_ctx tokens every `stride`
tokens, each token predicted once (finetune_lm.perplexity, and pre-training's valid
perplexity); and the log-probabilities of many short token sequences, batched (the
zero-shot heuristics, lm/zeroshot.py). One forward pass serves both: `_window_losses`."""

import numpy as np
import tensorflow as tf

from finetune_lm.model.transformer import next_token_logits

BUCKET = 16  # sequence_logprobs pads to a multiple of this: few compiled shapes


def windows(n_tokens, n_ctx, stride):
    """[(start, length, first)]: window tokens[start:start + length] scores the
    predictions of its tokens first..length-1 (token j from tokens before it)."""
    if not 1 <= stride < n_ctx:
        raise ValueError("stride %d: expected 1..%d" % (stride, n_ctx - 1))
    out, start, done = [], 0, 1  # done: the first token not yet scored
    while done < n_tokens:
        end = min(start + n_ctx, n_tokens)
        out.append((start, end - start, done - start))
        done = end
        start += stride
    return out


class Scorer:
    """Sum of the next-token losses and their count, in batches of n_batch windows of
    n_ctx tokens (one compiled function, the last batch padded)."""

    def __init__(self, params, hp, n_ctx=None, n_batch=4, xla=None):
        self.params, self.hp = params, hp
        self.n_ctx = n_ctx or hp.n_ctx
        if self.n_ctx > hp.n_ctx:
            raise ValueError("windows of %d tokens; the model has %d positions"
                             % (self.n_ctx, hp.n_ctx))
        self.n_batch = n_batch
        self._xla = bool(hp.xla if xla is None else xla)
        self._fn = tf.function(self._losses, autograph=False, jit_compile=self._xla)
        self._token_fn = None

    def _window_losses(self, X):
        """X [N, T, 2] -> the next-token losses [N, T - 1] of every window position."""
        logits = next_token_logits(self.params, X, self.hp, last=False)  # [N, T-1, n_vocab]
        return tf.nn.sparse_softmax_cross_entropy_with_logits(logits=logits, labels=X[:, 1:, 0])

    def _losses(self, X, W):
        """X [N, T, 2], W [N, T - 1] weights of each prediction -> (sum, count)."""
        losses = self._window_losses(X)
        return tf.reduce_sum(losses * W), tf.reduce_sum(W)

    def _batches(self, tokens, stride):
        """(X, W, the batch's windows) of each batch of windows over `tokens`."""
        hp, T = self.hp, self.n_ctx
        wins = windows(len(tokens), T, stride or T - 1)
        pos = hp.n_vocab + hp.n_special + np.arange(T, dtype=np.int32)
        for b in range(0, len(wins), self.n_batch):
            X = np.zeros([self.n_batch, T, 2], np.int32)
            X[:, :, 1] = pos
            W = np.zeros([self.n_batch, T - 1], np.float32)
            for r, (start, length, first) in enumerate(wins[b:b + self.n_batch]):
                X[r, :length, 0] = tokens[start:start + length]
                W[r, first - 1:length - 1] = 1
            yield X, W, wins[b:b + self.n_batch]

    def score(self, tokens, stride=None, progress=None):
        """(count, sum of losses) over one token sequence."""
        total, count = 0.0, 0
        for X, W, wins in self._batches(tokens, stride):
            s, c = self._fn(tf.constant(X), tf.constant(W))
            total += float(s)
            count += int(round(float(c)))
            if progress is not None:
                progress(len(wins))
        return count, total

    def token_losses(self, tokens, stride=None):
        """The loss of each predicted token of one sequence: float32 [len(tokens) - 1],
        entry j that of token j + 1, from the window `score` counts it in."""
        out = np.zeros(max(len(tokens) - 1, 0), np.float32)
        for X, _, wins in self._batches(tokens, stride):
            losses = self._window_fn()(tf.constant(X)).numpy()  # [n_batch, T - 1]
            for r, (start, length, first) in enumerate(wins):
                out[start + first - 1:start + length - 1] = losses[r, first - 1:length - 1]
        return out

    def _window_fn(self):
        """_window_losses compiled (one function per padded length)."""
        if self._token_fn is None:
            self._token_fn = tf.function(self._window_losses, autograph=False,
                                         jit_compile=self._xla)
        return self._token_fn

    def sequence_logprobs(self, seqs, progress=None):
        """log p(token j | the tokens before it) of every token after the first of each
        token list of `seqs` (each 1..n_ctx tokens): [len(s) - 1] float32 arrays, in
        batches of n_batch sequences padded to a multiple of BUCKET tokens (sequences
        sorted by length, so that a batch pads little); progress(n) after each batch."""
        hp, n_ctx = self.hp, self.n_ctx
        lengths = [len(s) for s in seqs]
        if lengths and (max(lengths) > n_ctx or min(lengths) < 1):
            raise ValueError("sequences of %d..%d tokens; expected 1..%d (n_ctx)"
                             % (min(lengths), max(lengths), n_ctx))
        order = np.argsort(lengths, kind="mergesort")
        out = [None] * len(seqs)
        for b in range(0, len(order), self.n_batch):
            rows = order[b:b + self.n_batch]
            t = max(2, max(lengths[r] for r in rows))
            t = min(n_ctx, -(-t // BUCKET) * BUCKET)
            X = np.zeros([self.n_batch, t, 2], np.int32)  # [N, T, 2]
            X[:, :, 1] = hp.n_vocab + hp.n_special + np.arange(t)
            for i, r in enumerate(rows):
                X[i, :lengths[r], 0] = seqs[r]
            lp = -self._window_fn()(tf.constant(X)).numpy()  # [N, T-1]
            for i, r in enumerate(rows):
                out[r] = lp[i, :lengths[r] - 1]
            if progress is not None:
                progress(len(rows))
        return out
