"""Reading the released weights (`params/`) and the original's `best_params.jl`."""

import json
import os

import joblib
import numpy as np

from . import release
from .errors import UserError
from .model import BLOCK_PARAMS, param_shapes


def released_names(n_layer=release.N_LAYER):
    """Names of the 146 released arrays, in file order (positions first, then tokens)."""
    names = ["model/positions", "model/tokens"]
    for layer in range(n_layer):
        names += ["model/h%d/%s" % (layer, n) for n in BLOCK_PARAMS]
    return names


def read_shapes(params_dir):
    path = os.path.join(params_dir, release.SHAPES_FILE)
    try:
        with open(path) as f:
            shapes = json.load(f)
    except FileNotFoundError:
        raise UserError("missing %s: run `%s --dest %s`"
                        % (path, release.DOWNLOAD_COMMAND, params_dir)) from None
    except ValueError as err:
        raise UserError("%s is not JSON (%s): expected a list of shapes" % (path, err)) from None
    if not (isinstance(shapes, list) and all(
            isinstance(s, list) and all(isinstance(d, int) and d > 0 for d in s) for s in shapes)):
        raise UserError("%s: expected a JSON list of shapes (lists of positive ints)" % path)
    return shapes


def check_shapes(shapes, hp, n_transfer, path="params_shapes.json"):
    """The released shapes must fit the model flags for the arrays that are loaded."""
    if n_transfer > hp.n_layer:
        raise UserError("--n_transfer %d is more than --n_layer %d" % (n_transfer, hp.n_layer))
    needed = 2 + 12 * n_transfer
    if len(shapes) < needed:
        raise UserError("%s has %d arrays; --n_transfer %d needs %d"
                        % (path, len(shapes), n_transfer, needed))
    n_pos = shapes[0][0]
    if hp.n_ctx > n_pos:
        raise UserError("--n_ctx gives a context of %d but %s has %d positions"
                        % (hp.n_ctx, path, n_pos))
    expected = {"model/positions": [n_pos, hp.n_embd], "model/tokens": [hp.n_vocab, hp.n_embd]}
    model_shapes = param_shapes(hp)
    for name in released_names(n_transfer)[2:]:
        expected[name] = model_shapes[name]
    for i, name in enumerate(released_names(n_transfer)):
        if shapes[i] != expected[name]:
            raise UserError("%s: array %d (%s) has shape %s; the flags (--n_embd %d, vocabulary %d) "
                            "expect %s" % (path, i, name, shapes[i], hp.n_embd, hp.n_vocab,
                                           expected[name]))


def load_shards(params_dir, shapes, blob_ids=release.BLOB_IDS):
    """The released arrays: the 10 shards concatenated, split at the shapes' sizes.

    blob_ids None skips the check of each shard against the upstream id (stand-ins).
    """
    missing = [n for n in release.SHARD_FILES if not os.path.isfile(os.path.join(params_dir, n))]
    if missing:
        raise UserError("%s lacks %s: run `%s --dest %s` (about 466 MB)"
                        % (params_dir, ", ".join(missing), release.DOWNLOAD_COMMAND, params_dir))
    flat = []
    for name in release.SHARD_FILES:
        path = os.path.join(params_dir, name)
        if blob_ids is not None:
            got = release.git_blob_id(path)
            if got != blob_ids[name]:
                raise UserError("%s (%d bytes) has git blob id %s, expected %s: it is not the "
                                "released file; delete it and run `%s --dest %s`"
                                % (path, os.path.getsize(path), got, blob_ids[name],
                                   release.DOWNLOAD_COMMAND, params_dir))
        try:
            a = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise UserError("%s is not a readable .npy file (%s); run `%s --dest %s`"
                            % (path, err, release.DOWNLOAD_COMMAND, params_dir)) from None
        if a.dtype != np.float32 or a.ndim != 1:
            raise UserError("%s holds %s %s; expected a 1-D float32 array"
                            % (path, a.dtype, list(a.shape)))
        flat.append(a)
    flat = np.concatenate(flat, 0)
    sizes = [int(np.prod(s)) for s in shapes]
    if flat.size != sum(sizes):
        raise UserError("%s: the shards hold %d floats; params_shapes.json needs %d"
                        % (params_dir, flat.size, sum(sizes)))
    offsets = np.cumsum(sizes)[:-1]
    return [a.reshape(s) for a, s in zip(np.split(flat, offsets), shapes)]


def special_rows(hp):
    """The 3 new embedding rows, from the global numpy generator (its first draw)."""
    return (np.random.randn(hp.n_special, hp.n_embd) * 0.02).astype(np.float32)


def transfer_arrays(params_dir, hp, n_transfer, blob_ids=release.BLOB_IDS):
    """The arrays to load into the first variables, in variable order.

    Draws the special rows first, whatever n_transfer (the original always did).
    n_transfer -1 loads nothing and needs no shards.
    """
    specials = special_rows(hp)
    if n_transfer == -1:
        return []
    if hp.n_ctx > release.N_POSITIONS and n_transfer >= 0:
        raise UserError("--n_ctx %d is more than the %d positions of the released weights"
                        % (hp.n_ctx, release.N_POSITIONS))
    shapes = read_shapes(params_dir)
    check_shapes(shapes, hp, n_transfer, os.path.join(params_dir, release.SHAPES_FILE))
    arrays = load_shards(params_dir, shapes, blob_ids)
    we = np.concatenate([arrays[1], specials, arrays[0][:hp.n_ctx]], 0)
    return [we] + arrays[2:2 + 12 * n_transfer]


def save_params(path, arrays):
    joblib.dump(list(arrays), path)


def load_params(path, shapes):
    """A best_params.jl (ours or the original's): a list of arrays matching `shapes`."""
    try:
        arrays = joblib.load(path)
    except FileNotFoundError:
        raise UserError("missing %s" % path) from None
    if not isinstance(arrays, list) or len(arrays) != len(shapes):
        raise UserError("%s holds %s; expected a list of %d arrays"
                        % (path, type(arrays).__name__ if not isinstance(arrays, list)
                           else "%d arrays" % len(arrays), len(shapes)))
    for i, ((name, shape), a) in enumerate(zip(shapes.items(), arrays)):
        if list(np.shape(a)) != list(shape):
            raise UserError("%s: array %d (%s) has shape %s, expected %s"
                            % (path, i, name, list(np.shape(a)), list(shape)))
    return arrays
