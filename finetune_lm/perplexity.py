"""Perplexity of GPT-1's language model over text files.

    python -m finetune_lm.perplexity FILE... [--params_dir params/ |
        --checkpoint save/<desc>/best_params.jl] [--n_ctx 512] [--stride 511]

Each file is encoded as finetune_lm.pretrain reads a corpus (finetune_lm.data.corpus: in
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

import math
import os
import sys

import numpy as np

from finetune_lm import flags
from finetune_lm.util import progress
from finetune_lm.util.errors import UserError, run_command

PROG = "python -m finetune_lm.perplexity"


def build_parser():
    p = flags.parser(PROG, flags.summary(__doc__))
    p.add_argument("files", nargs="+", help="text files (UTF-8)")
    p.add_argument("--n_ctx", type=int, default=None,
                   help="tokens per window (default: the model's context)")
    p.add_argument("--stride", type=int, default=None,
                   help="tokens between window starts (default: --n_ctx - 1)")
    p.add_argument("--n_batch", type=int, default=4, help="windows per batch")
    p.add_argument("--cache_dir", type=str, default=os.path.join("datasets", ".cache", "corpus"),
                   help="where encoded texts are kept, named by their content")
    p.add_argument("--workers", type=int, default=0, help="encoding processes (0: one a core)")
    flags.add_model_flags(p)
    return p


def run(args, out=None):
    # Here, not at the top: they load TensorFlow, which --help and bad flags need not.
    from finetune_lm.data import corpus
    from finetune_lm.lm.scorer import windows
    out = out or sys.stdout
    encoder, model = flags.load_model(args)
    hp = model.hp
    n_ctx = args.n_ctx or hp.n_ctx
    if not 2 <= n_ctx <= hp.n_ctx:
        raise UserError("--n_ctx %d: expected 2..%d, the model's positions" % (n_ctx, hp.n_ctx))
    stride = n_ctx - 1 if args.stride is None else args.stride
    if not 1 <= stride < n_ctx:
        raise UserError("--stride %d: expected 1..%d (--n_ctx - 1: each window's first "
                        "token is context only)" % (stride, n_ctx - 1))
    flags.vocabulary_paths(args)  # a Hugging Face folder's vocab.json / merges.txt
    tokens = corpus.build(args.files, args.encoder_path, args.bpe_path, args.cache_dir,
                          workers=args.workers or None)
    scorer = model.scorer(n_ctx, args.n_batch)
    n_windows = sum(len(windows(e - s, n_ctx, stride)) for _, s, e in tokens.files)
    total, count = 0.0, 0
    with progress.bar(total=n_windows, desc="perplexity", unit="window", ncols=80) as bar:
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
    return run_command(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
