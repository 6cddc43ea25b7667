"""The transformer's variables, named and ordered as the original's checkpoint (and the
released weights) hold them: the one place that names a block's variables, their
shapes and their Hugging Face keys. Plain Python, no TensorFlow: the downloader and the
weight readers use it without starting TensorFlow."""

import collections

# One block's variables in the released (and checkpoint) order: (name in the release,
# Hugging Face key within h.<i>., shape as a function of the width c). transformers'
# Conv1D stores the release's [1, nx, nf] weights as [nx, nf] (lm/hf.py).
BLOCK = (
    ("attn/c_attn/w", "attn.c_attn.weight", lambda c: [1, c, 3 * c]),
    ("attn/c_attn/b", "attn.c_attn.bias", lambda c: [3 * c]),
    ("attn/c_proj/w", "attn.c_proj.weight", lambda c: [1, c, c]),
    ("attn/c_proj/b", "attn.c_proj.bias", lambda c: [c]),
    ("ln_1/g", "ln_1.weight", lambda c: [c]),
    ("ln_1/b", "ln_1.bias", lambda c: [c]),
    ("mlp/c_fc/w", "mlp.c_fc.weight", lambda c: [1, c, 4 * c]),
    ("mlp/c_fc/b", "mlp.c_fc.bias", lambda c: [4 * c]),
    ("mlp/c_proj/w", "mlp.c_proj.weight", lambda c: [1, 4 * c, c]),
    ("mlp/c_proj/b", "mlp.c_proj.bias", lambda c: [c]),
    ("ln_2/g", "ln_2.weight", lambda c: [c]),
    ("ln_2/b", "ln_2.bias", lambda c: [c]),
)
N_BLOCK = len(BLOCK)  # arrays per layer
BLOCK_PARAMS = tuple(name for name, _, _ in BLOCK)
BLOCK_KEYS = tuple((name, key) for name, key, _ in BLOCK)


def block_shapes(c):
    """The shapes of one block of width c, in BLOCK's order."""
    return [shape(c) for _, _, shape in BLOCK]


def n_layers_of(n_arrays, extra):
    """The layers of a list of n_arrays arrays holding `extra` others besides the blocks
    (None when the count is not extra + N_BLOCK x layers)."""
    n = n_arrays - extra
    return n // N_BLOCK if n >= 0 and n % N_BLOCK == 0 else None


def n_transformer(n_layer):
    """Arrays of the transformer: we and the blocks."""
    return 1 + N_BLOCK * n_layer


def param_shapes(hp):
    """Ordered {name: shape} of the transformer's variables, in the original's order
    (a task head's follow them: heads.param_shapes). hp: a ModelConfig or HParams."""
    nx = hp.n_embd
    shapes = collections.OrderedDict()
    shapes["model/we"] = [hp.n_vocab + hp.n_special + hp.n_ctx, nx]
    for layer in range(hp.n_layer):
        for name, shape in zip(BLOCK_PARAMS, block_shapes(nx)):
            shapes["model/h%d/%s" % (layer, name)] = shape
    return shapes
