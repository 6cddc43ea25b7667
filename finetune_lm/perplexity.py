"""Perplexity of GPT-1's language model over text files.

    python -m finetune_lm.perplexity FILE... [--params_dir params/ |
        --checkpoint save/<desc>/best_params.jl] [--n_ctx 512] [--stride 511]

Each file is encoded as finetune_lm.pretrain reads a corpus (finetune_lm.corpus: in
parallel, cached by content) and scored in windows of --n_ctx tokens (default: the
model's context, 512 for GPT-1) every --stride tokens (default: --n_ctx - 1,
contiguous windows overlapping by one token); every token but a file's first is
predicted once, by the first window that holds it after its first position (the
first window scores all its tokens, a later one only those past the previous
window's end; a smaller stride gives them more context). Loss: the cross-entropy of
each token under the softmax over the vocabulary's rows of the tied embedding
(special and position rows left out). Prints one line per file, then `tokens: N`,
`mean loss: L` and, last, `perplexity: exp(L)` over all the files' tokens.

The paper reports 18.4 on BooksCorpus (section 4.1); `--params_dir params/` (the
release) on BooksCorpus text checks it.
"""

import argparse
import math
import os
import sys

import numpy as np

from . import release
from .errors import UserError


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
        import tensorflow as tf
        self.params, self.hp = params, hp
        self.n_ctx = n_ctx or hp.n_ctx
        if self.n_ctx > hp.n_ctx:
            raise ValueError("windows of %d tokens; the model has %d positions"
                             % (self.n_ctx, hp.n_ctx))
        self.n_batch = n_batch
        self._fn = tf.function(self._losses, autograph=False,
                               jit_compile=bool(hp.xla if xla is None else xla))

    def _losses(self, X, W):
        """X [N, T, 2], W [N, T - 1] weights of each prediction -> (sum, count)."""
        import tensorflow as tf
        from .model import lm_logits, transformer
        h, we = transformer(self.params, X, self.hp)
        logits = lm_logits(h[:, :-1], we[:self.hp.n_vocab], self.hp)  # [N, T-1, n_vocab]
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(logits=logits,
                                                                labels=X[:, 1:, 0])
        return tf.reduce_sum(losses * W), tf.reduce_sum(W)

    def score(self, tokens, stride=None, progress=None):
        """(count, sum of losses) over one token sequence."""
        import tensorflow as tf
        hp, T = self.hp, self.n_ctx
        wins = windows(len(tokens), T, stride or T - 1)
        pos = hp.n_vocab + hp.n_special + np.arange(T, dtype=np.int32)
        total, count = 0.0, 0
        for b in range(0, len(wins), self.n_batch):
            X = np.zeros([self.n_batch, T, 2], np.int32)
            X[:, :, 1] = pos
            W = np.zeros([self.n_batch, T - 1], np.float32)
            for r, (start, length, first) in enumerate(wins[b:b + self.n_batch]):
                X[r, :length, 0] = tokens[start:start + length]
                W[r, first - 1:length - 1] = 1
            s, c = self._fn(tf.constant(X), tf.constant(W))
            total += float(s)
            count += int(round(float(c)))
            if progress is not None:
                progress(len(wins[b:b + self.n_batch]))
        return count, total


def build_parser():
    from .sample import add_model_flags
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+", help="text files (UTF-8)")
    p.add_argument("--n_ctx", type=int, default=None,
                   help="tokens per window (default: the model's context)")
    p.add_argument("--stride", type=int, default=None,
                   help="tokens between window starts (default: --n_ctx - 1)")
    p.add_argument("--n_batch", type=int, default=4, help="windows per batch")
    p.add_argument("--cache_dir", type=str, default=os.path.join("datasets", ".cache", "corpus"),
                   help="where encoded texts are kept (finetune_lm.corpus)")
    p.add_argument("--workers", type=int, default=0, help="encoding processes (0: one a core)")
    add_model_flags(p)
    return p


def run(args, out=None):
    from . import corpus
    from .sample import load_model
    from tqdm import tqdm
    out = out or sys.stdout
    if args.n_batch < 1:
        raise UserError("--n_batch %d: expected a positive integer" % args.n_batch)
    encoder, params, hp = load_model(args)
    n_ctx = args.n_ctx or hp.n_ctx
    if not 2 <= n_ctx <= hp.n_ctx:
        raise UserError("--n_ctx %d: expected 2..%d, the model's positions" % (n_ctx, hp.n_ctx))
    stride = args.stride or n_ctx - 1
    if not 1 <= stride < n_ctx:
        raise UserError("--stride %d: expected 1..%d (--n_ctx - 1: each window's first "
                        "token is context only)" % (stride, n_ctx - 1))
    tokens = corpus.build(args.files, args.encoder_path or os.path.join(
        args.params_dir, release.ENCODER_FILE), args.bpe_path or os.path.join(
        args.params_dir, release.BPE_FILE), args.cache_dir, workers=args.workers or None)
    scorer = Scorer(params, hp, n_ctx, args.n_batch)
    n_windows = sum(len(windows(e - s, n_ctx, stride)) for _, s, e in tokens.files)
    total, count = 0.0, 0
    with tqdm(total=n_windows, desc="perplexity", unit="window", ncols=80, leave=False,
              file=sys.stderr) as bar:
        for i, (path, _, _) in enumerate(tokens.files):
            c, s = scorer.score(np.asarray(tokens.file_tokens(i)), stride, bar.update)
            if c:
                out.write("%s: %d tokens, mean loss %.4f, perplexity %.2f\n"
                          % (path, c, s / c, math.exp(s / c)))
            else:
                out.write("%s: %d tokens, nothing to predict\n" % (path, c))
            total += s
            count += c
    if count == 0:
        raise UserError("the files (%s) hold fewer than 2 tokens each: nothing to predict"
                        % ", ".join(args.files))
    out.write("tokens: %d\nmean loss: %.6f\nperplexity: %.4f\n"
              % (count, total / count, math.exp(total / count)))
    out.flush()
    return count, total / count


def main(argv=None):
    from .errors import run_command
    return run_command(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
