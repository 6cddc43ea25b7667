"""The transformer's variables, named and ordered as the original's checkpoint (and the
released weights) hold them. Plain Python, no TensorFlow: the downloader and the
weight readers use it without starting TensorFlow."""

import collections


# Block variables in the released (and checkpoint) order.
BLOCK_PARAMS = (
    "attn/c_attn/w", "attn/c_attn/b", "attn/c_proj/w", "attn/c_proj/b",
    "ln_1/g", "ln_1/b",
    "mlp/c_fc/w", "mlp/c_fc/b", "mlp/c_proj/w", "mlp/c_proj/b",
    "ln_2/g", "ln_2/b",
)


def param_shapes(hp):
    """Ordered {name: shape} of the transformer's variables, in the original's order
    (a task head's follow them: heads.param_shapes)."""
    nx = hp.n_embd
    shapes = collections.OrderedDict()
    shapes["model/we"] = [hp.n_we, nx]
    block = [[1, nx, 3 * nx], [3 * nx], [1, nx, nx], [nx], [nx], [nx],
             [1, nx, 4 * nx], [4 * nx], [1, 4 * nx, nx], [nx], [nx], [nx]]
    for layer in range(hp.n_layer):
        for name, shape in zip(BLOCK_PARAMS, block):
            shapes["model/h%d/%s" % (layer, name)] = shape
    return shapes
