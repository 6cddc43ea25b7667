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

import argparse
import json
import os
import re
import sys

import numpy as np

from . import release
from .errors import UserError
from .weights import MANIFEST
NEG = -1e10  # the logit of a filtered-out token (gpt-2's top_k_logits)


# -- weights --------------------------------------------------------------------------

def manifest_model(params_dir):
    """The "model" entry (n_head, afn, ...) of the folder's manifest.json, if any (the
    folders finetune_lm.pretrain writes carry one; the release has no manifest)."""
    path = os.path.join(params_dir, MANIFEST)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            model = json.load(f).get("model", {})
    except (OSError, ValueError, AttributeError):
        return {}  # verify_params_dir names what is wrong with it
    return model if isinstance(model, dict) else {}


def _flag_check(flag, given, found, where):
    if given is not None and given != found:
        raise UserError("%s %d does not fit %s, which has %d" % (flag, given, where, found))
    return found


def lm_hparams(n_vocab, n_special, n_ctx, n_embd, n_layer, n_head, afn, where):
    from .hparams import HParams
    if n_embd % n_head:
        raise UserError("--n_head %d does not divide the width %d of %s; pass --n_head"
                        % (n_head, n_embd, where))
    return HParams(n_vocab=n_vocab, n_special=n_special, n_ctx=n_ctx, n_embd=n_embd,
                   n_head=n_head, n_layer=n_layer, embd_pdrop=0.0, attn_pdrop=0.0,
                   resid_pdrop=0.0, clf_pdrop=0.0, afn=afn)


def load_params_dir(params_dir, n_vocab, n_layer=None, n_embd=None, n_head=None, afn=None):
    """(arrays, hp) of a folder in the released format: the release (checked against
    the upstream blob ids) or a model pre-trained here (checked against its manifest).
    arrays: [we, h0 ... arrays] with we = tokens then positions (no special rows:
    hp.n_special 0); the sizes come from params_shapes.json, the flags must agree."""
    from .weights import load_shards, read_shapes, verify_params_dir
    verify_params_dir(params_dir, 0)  # against its manifest.json, else the release's ids
    shapes = read_shapes(params_dir)
    where = os.path.join(params_dir, release.SHAPES_FILE)
    if len(shapes) < 2 or (len(shapes) - 2) % 12 or any(len(s) != 2 for s in shapes[:2]):
        raise UserError("%s has %d arrays: expected positions, tokens and 12 per layer"
                        % (where, len(shapes)))
    (n_pos, width), (rows, width2) = shapes[0], shapes[1]
    model = manifest_model(params_dir)
    n_layer = _flag_check("--n_layer", n_layer, (len(shapes) - 2) // 12, where + " (layers)")
    n_embd = _flag_check("--n_embd", n_embd, width, where + " (width)")
    if rows != n_vocab or width2 != width:
        raise UserError("%s: tokens have shape %s; the vocabulary (%d entries) and the "
                        "positions' width (%d) expect [%d, %d]"
                        % (where, shapes[1], n_vocab, width, n_vocab, width))
    hp = lm_hparams(n_vocab, 0, n_pos, n_embd, n_layer,
                    n_head or model.get("n_head", 12),
                    afn or model.get("afn", "gelu"), params_dir)
    from .model import param_shapes
    expected = list(param_shapes(hp).values())[1:1 + 12 * n_layer]
    for i, (got, want) in enumerate(zip(shapes[2:], expected)):
        if got != want:
            raise UserError("%s: array %d has shape %s; --n_embd %d expects %s"
                            % (where, i + 2, got, n_embd, want))
    arrays = load_shards(params_dir, shapes)  # verified above: not hashed again
    we = np.concatenate([arrays[1], arrays[0]], 0)
    return [we] + arrays[2:], hp


def load_checkpoint(path, n_vocab, n_layer=None, n_embd=None, n_head=None, afn=None):
    """(arrays, hp) of a train.py best_params.jl: we (tokens, 3 special rows, the
    fine-tuning context's positions), the layers, the task head (not read)."""
    import joblib
    try:
        arrays = joblib.load(path)
    except FileNotFoundError:
        raise UserError("--checkpoint %s: no such file" % path) from None
    except Exception as err:  # pickle, zlib, EOF...
        raise UserError("--checkpoint %s is not a joblib file (%s: %s)"
                        % (path, type(err).__name__, err)) from None
    if (not isinstance(arrays, list) or len(arrays) < 13 or (len(arrays) - 3) % 12
            or np.ndim(arrays[0]) != 2):
        raise UserError("--checkpoint %s: expected a list of 1 + 12 x layers + 2 arrays (we, "
                        "the layers, the task head), as train.py writes" % path)
    rows, width = np.shape(arrays[0])
    n_layer = _flag_check("--n_layer", n_layer, (len(arrays) - 3) // 12, path + " (layers)")
    if n_embd is not None and n_embd != width:
        raise UserError("--checkpoint %s: array 0 (model/we) has shape %s; --n_embd %d expects "
                        "[%d, %d]" % (path, list(np.shape(arrays[0])), n_embd, rows, n_embd))
    n_ctx = rows - n_vocab - 3
    if n_ctx < 1:
        raise UserError("--checkpoint %s: model/we has %d rows; the vocabulary (%d) and 3 "
                        "special rows need more" % (path, rows, n_vocab))
    hp = lm_hparams(n_vocab, 3, n_ctx, width, n_layer, n_head or 12, afn or "gelu", path)
    from .model import param_shapes
    for i, (name, shape) in enumerate(list(param_shapes(hp).items())[:1 + 12 * n_layer]):
        if list(np.shape(arrays[i])) != list(shape):
            raise UserError("--checkpoint %s: array %d (%s) has shape %s; the flags (--n_embd "
                            "%d, --n_layer %d) expect %s" % (path, i, name,
                                                             list(np.shape(arrays[i])), width,
                                                             n_layer, list(shape)))
    return [np.asarray(a, np.float32) for a in arrays[:1 + 12 * n_layer]], hp


def as_variables(arrays, hp):
    """{name: tf.Variable} of the transformer's variables (no task head)."""
    import tensorflow as tf
    from .model import param_shapes
    names = list(param_shapes(hp))[:1 + 12 * hp.n_layer]
    return {n: tf.Variable(np.asarray(a, np.float32), name=n, trainable=False)
            for n, a in zip(names, arrays)}


def add_model_flags(p):
    p.add_argument("--params_dir", type=str, default="params/",
                   help="a folder in the released format: the release, or the output of "
                        "finetune_lm.pretrain (also where the vocabulary is read)")
    p.add_argument("--checkpoint", type=str, default=None,
                   help="a train.py best_params.jl instead of --params_dir's weights")
    p.add_argument("--encoder_path", type=str, default=None,
                   help="default: <params_dir>/encoder_bpe_40000.json")
    p.add_argument("--bpe_path", type=str, default=None,
                   help="default: <params_dir>/vocab_40000.bpe")
    p.add_argument("--n_layer", type=int, default=None, help="default: from the weights")
    p.add_argument("--n_embd", type=int, default=None, help="default: from the weights")
    p.add_argument("--n_head", type=int, default=None,
                   help="default: the folder's manifest, else 12")
    p.add_argument("--afn", type=str, default=None, help="default: the manifest's, else gelu")
    p.add_argument("--xla", dest="xla", action="store_true", default=True,
                   help="compile with XLA (the default)")
    p.add_argument("--no_xla", dest="xla", action="store_false",
                   help="run as a plain TF graph (the same numbers up to round-off)")


def load_model(args):
    """(text encoder, {name: variable}, hp) from the model flags."""
    from .model import ACT_FNS
    from .text import TextEncoder
    if args.afn is not None and args.afn not in ACT_FNS:
        raise UserError("--afn %r is not known; expected one of: %s"
                        % (args.afn, ", ".join(sorted(ACT_FNS))))
    for flag in ("n_layer", "n_embd", "n_head"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UserError("--%s %d: expected a positive integer" % (flag, value))
    encoder = TextEncoder(args.encoder_path or os.path.join(args.params_dir, release.ENCODER_FILE),
                          args.bpe_path or os.path.join(args.params_dir, release.BPE_FILE))
    n_vocab = len(encoder.encoder)
    sizes = dict(n_layer=args.n_layer, n_embd=args.n_embd, n_head=args.n_head, afn=args.afn)
    if args.checkpoint:
        arrays, hp = load_checkpoint(args.checkpoint, n_vocab, **sizes)
    else:
        arrays, hp = load_params_dir(args.params_dir, n_vocab, **sizes)
    hp = hp.replace(xla=bool(getattr(args, "xla", True)))
    return encoder, as_variables(arrays, hp), hp


# -- sampling -------------------------------------------------------------------------

def top_k_logits(logits, k):
    """Keep the k largest logits of each row (ties with the k-th kept too)."""
    import tensorflow as tf
    values, _ = tf.math.top_k(logits, k=k)
    return tf.where(logits < values[:, -1:], tf.constant(NEG, logits.dtype), logits)


def top_p_logits(logits, p):
    """Nucleus filtering: keep the smallest set of most likely tokens whose
    probability reaches p (at least one)."""
    import tensorflow as tf
    sorted_logits = tf.sort(logits, direction="DESCENDING", axis=-1)
    before = tf.cumsum(tf.nn.softmax(sorted_logits, axis=-1), axis=-1, exclusive=True)
    n_keep = tf.maximum(tf.reduce_sum(tf.cast(before < p, tf.int32), axis=-1), 1)  # [B]
    smallest = tf.gather(sorted_logits, n_keep - 1, batch_dims=1)[:, None]
    return tf.where(logits < smallest, tf.constant(NEG, logits.dtype), logits)


def choose(logits, seed, step, temperature=1.0, top_k=0, top_p=1.0):
    """The next token of each row of logits [B, V]: argmax with top_k 1, else a draw
    from softmax(logits / temperature) restricted by top_k (0: off) and top_p (1: off).
    The draw is Gumbel-max over Philox uniforms seeded by fold_in(seed, step): the same
    bits with or without XLA (finetune_lm.rng)."""
    import tensorflow as tf
    from .rng import stateless_fold_in, stateless_uniform
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
    import tensorflow as tf
    return tf.constant([seed, 0x5A3E], tf.int64)


class Sampler:
    """n_samples continuations of `length` tokens after a prompt of n_prompt tokens,
    one compiled program (see the module's docstring). Call with (prompt ids, seed);
    returns tokens [n_samples, length] (and logits [n_samples, length, n_vocab], the
    distributions they were drawn from before filtering, with return_logits)."""

    def __init__(self, params, hp, n_samples, n_prompt, length, temperature=1.0, top_k=0,
                 top_p=1.0, xla=None, return_logits=False):
        import tensorflow as tf
        if n_prompt < 1 or length < 1 or n_prompt + length - 1 > hp.n_ctx:
            raise ValueError("a prompt of %d and %d new tokens do not fit %d positions"
                             % (n_prompt, length, hp.n_ctx))
        self.params, self.hp = params, hp
        self.n_samples, self.n_prompt, self.length = n_samples, n_prompt, length
        self.pick = dict(temperature=temperature, top_k=top_k, top_p=top_p)
        self.return_logits = return_logits
        self._fn = tf.function(self._sample, autograph=False,
                               jit_compile=bool(hp.xla if xla is None else xla))

    @property
    def tracing_count(self):
        return self._fn.experimental_get_tracing_count()

    def _logits(self, h, we):
        from .model import lm_logits
        return lm_logits(h[:, -1:], we, self.hp)[:, 0, :self.hp.n_vocab]  # tokens only

    def _sample(self, prompt, seed):
        import tensorflow as tf
        from .model import past_shape, transformer
        hp, B, Tc, L = self.hp, self.n_samples, self.n_prompt, self.length
        pos0 = hp.n_vocab + hp.n_special
        X = tf.stack([tf.tile(prompt[None], [B, 1]),
                      tf.tile(pos0 + tf.range(Tc)[None], [B, 1])], axis=2)  # [B, Tc, 2]
        h, we, present = transformer(self.params, X, hp, with_present=True)
        logits = self._logits(h, we)
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
            h, we, present = transformer(self.params, x, hp, past=cache, past_len=pos)
            slot = tf.reshape(tf.equal(tf.range(n_buf), pos), [1, 1, 1, 1, n_buf, 1])
            cache = tf.where(slot, present, cache)
            logits = self._logits(h, we)
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
        import tensorflow as tf
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
    import tensorflow as tf
    from .model import lm_logits, transformer
    pos0 = hp.n_vocab + hp.n_special
    seq = np.tile(np.asarray(prompt, np.int32)[None], [n_samples, 1])
    toks, logs = [], []
    for step in range(length):
        t = seq.shape[1]
        X = np.stack([seq, np.tile(pos0 + np.arange(t, dtype=np.int32), [n_samples, 1])], 2)
        h, we = transformer(params, tf.constant(X), hp)
        logits = lm_logits(h[:, -1:], we, hp)[:, 0, :hp.n_vocab]
        tok = choose(logits, _seed(seed), step, temperature, top_k, top_p).numpy()
        toks.append(tok)
        logs.append(logits.numpy())
        seq = np.concatenate([seq, tok[:, None]], 1)
    return np.stack(toks, 1), np.stack(logs, 1)


# -- text -----------------------------------------------------------------------------

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


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--prompt", type=str, required=True, help="the text to continue")
    p.add_argument("--length", type=int, default=100, help="new tokens per sample")
    p.add_argument("--n_samples", type=int, default=1, help="samples, drawn as one batch")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top_k", type=int, default=40, help="keep the k most likely tokens "
                   "(0: off; 1: greedy)")
    p.add_argument("--top_p", type=float, default=1.0,
                   help="keep the most likely tokens up to this probability (1: off)")
    p.add_argument("--seed", type=int, default=0)
    add_model_flags(p)
    return p


def check_args(args):
    if args.length < 1:
        raise UserError("--length %d: expected at least 1 new token" % args.length)
    if args.n_samples < 1:
        raise UserError("--n_samples %d: expected at least 1" % args.n_samples)
    if not args.temperature > 0:
        raise UserError("--temperature %s: expected a positive number" % args.temperature)
    if args.top_k < 0:
        raise UserError("--top_k %d: expected 0 (off) or a positive number" % args.top_k)
    if not 0 < args.top_p <= 1:
        raise UserError("--top_p %s: expected a probability in (0, 1]" % args.top_p)
    if args.top_k == 0 and args.top_p == 1:
        raise UserError("--top_k 0 with --top_p 1 turns both filters off; expected --top_k "
                        "of at least 1 (1: greedy) or --top_p below 1")
    if args.length > release.N_POSITIONS:
        raise UserError("--length %d is past the %d positions of GPT-1's context; expected at "
                        "most %d" % (args.length, release.N_POSITIONS, release.N_POSITIONS))


def run(args, out=None):
    out = out or sys.stdout
    check_args(args)
    encoder, params, hp = load_model(args)
    if args.length > hp.n_ctx:
        raise UserError("--length %d is past the model's %d positions; expected at most %d"
                        % (args.length, hp.n_ctx, hp.n_ctx))
    ids = encoder.encode([args.prompt])[0]
    if not ids:
        raise UserError("--prompt %r encodes to no token; expected some text" % args.prompt)
    ids = fit_prompt(ids, args.length, hp.n_ctx, lambda m: print(m, file=sys.stderr))
    sampler = Sampler(params, hp, args.n_samples, len(ids), args.length, args.temperature,
                      args.top_k, args.top_p, xla=hp.xla)
    tokens = sampler(ids, args.seed)
    for i, row in enumerate(tokens):
        out.write("=== sample %d ===\n%s\n" % (i + 1, decode(row, encoder.decoder)))
    out.flush()
    return tokens


def main(argv=None):
    from .errors import run_command
    return run_command(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
