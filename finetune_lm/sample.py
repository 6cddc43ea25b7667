"""Generate text with GPT-1's language model (the released weights, a fine-tuned
checkpoint, or a model pre-trained with finetune_lm.pretrain).

    python -m finetune_lm.sample --prompt "..." [--params_dir params/ |
        --checkpoint save/<desc>/best_params.jl] --length 100 --n_samples 4 \
        --temperature 0.8 --top_k 40 --top_p 0.9 --seed 0

prints each sample's continuation (the prompt left out) after a line
`=== sample N ===`, and nothing else on stdout.

How: the prompt runs through the transformer once, keeping every layer's keys and
values (the `past` of gpt-2's sample.py); each new token then runs alone at its
position, attending to that cache, so it costs one position, not the whole prefix.
The cache is a fixed-size buffer (prompt + length - 1 positions) and the whole
generation is one tf.function with a while loop (one XLA program by default):
traced and compiled once per (samples, prompt length, length), never per token.
The n_samples continuations run as one batch. Draws are stateless (Gumbel-max over
Philox uniforms seeded by (--seed, step)), so a seed gives the same text again, with
or without the cache. Only the token rows of the embedding are candidates: the
special rows (_start_, _delimiter_, _classify_) and the position rows are never
sampled.
"""

import sys

from finetune_lm import flags
from finetune_lm.lm.loader import config_of
from finetune_lm.training.checks import check_draw, check_fits  # noqa: F401  (named here too)
from finetune_lm.util.errors import UserError, command_main

PROG = "python -m finetune_lm.sample"


def build_parser():
    p = flags.parser(PROG, "Generate text with GPT-1's language model: the released weights, "
                           "a fine-tuned best_params.jl or a pre-trained folder.")
    p.add_argument("--prompt", type=str, required=True, help="the text to continue")
    p.add_argument("--length", type=int, default=100, help="new tokens per sample")
    p.add_argument("--n_samples", type=int, default=1, help="samples, drawn as one batch")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="divides the logits before the draw (below 1: surer)")
    p.add_argument("--top_k", type=int, default=40, help="keep the k most likely tokens "
                   "(0: off; 1: greedy)")
    p.add_argument("--top_p", type=float, default=1.0,
                   help="keep the most likely tokens up to this probability (1: off)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (the same text again)")
    flags.add_model_flags(p)
    return p


def check_args(args):
    check_draw(args.length, args.n_samples, args.temperature, args.top_k, args.top_p)
    positions = model_positions(args)
    if positions is not None and args.length > positions:
        raise UserError("--length %d is past the model's %d positions (%s); expected at most %d"
                        % (args.length, positions, args.checkpoint or args.params_dir, positions))


def model_positions(args):
    """The model's positions, read cheaply before its weights are (None: unreadable, the
    loading says why): the loader's config (params_shapes.json's, the run's model.json)."""
    try:
        return config_of(args.checkpoint or args.params_dir).n_ctx
    except UserError:
        return None


def run(args, out=None):
    out = out or sys.stdout
    check_args(args)
    encoder, model = flags.load_model(args)
    tokens, texts = model.complete(args.prompt, args.length, args.n_samples, args.temperature,
                                   args.top_k, args.top_p, args.seed,
                                   lambda m: print(m, file=sys.stderr), encoder)
    for i, text in enumerate(texts):
        out.write("=== sample %d ===\n%s\n" % (i + 1, text))
    out.flush()
    return tokens


def main(argv=None):
    # run and the check looked up at each call, so a test can replace them.
    return command_main(build_parser, run, check=check_args)(argv)


if __name__ == "__main__":
    sys.exit(main())
