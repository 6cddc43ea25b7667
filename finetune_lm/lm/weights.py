"""Reading the released weights (`params/`): their shapes, records and shards (lm/loader.py
turns them into a model config and its arrays).

A weights folder is verified before it is loaded (and before any slow work:
`verify_params_dir`, which train.py's check_args calls), in one of three ways:
- the release (the default): every file against its upstream git blob id;
- a folder carrying its own `manifest.json` (weights that are not the release, e.g.
  written by pre-training): `{"files": {name: {"bytes": n, "sha256": hex}}}`, every
  needed file listed there with its size and SHA-256;
- `--unverified_weights`: no check, one warning line on stderr naming the folder.
A folder verified (or accepted) once is not hashed again by `load_shards` while its
files keep their size and modification time.
"""

import json
import os
import sys

import joblib
import numpy as np

from finetune_lm.lm import hf
from finetune_lm.model import release
from finetune_lm.model.variables import BLOCK_PARAMS, N_BLOCK, param_shapes
from finetune_lm.util.errors import UserError
from finetune_lm.util.files import sha256_file



def released_names(n_layer=release.N_LAYER):
    """Names of the 146 released arrays, in file order (positions first, then tokens)."""
    names = ["model/positions", "model/tokens"]
    for layer in range(n_layer):
        names += ["model/h%d/%s" % (layer, n) for n in BLOCK_PARAMS]
    return names


_HF = {}  # realpath of a Hugging Face folder -> what hf.read_hf read, until load_shards


def _read_hf(params_dir):
    """hf.read_hf of a Hugging Face folder, read once for read_shapes and load_shards."""
    key = os.path.realpath(params_dir)
    if key not in _HF:
        _HF.clear()
        _HF[key] = hf.read_hf(params_dir)
    return _HF[key]


def read_hf(params_dir):
    """hf.read_hf's dict of a Hugging Face folder (read once with read_shapes), then
    forgotten."""
    read = _read_hf(params_dir)
    _HF.clear()
    return read


def read_shapes(params_dir):
    if hf.is_hf_dir(params_dir):  # a Hugging Face folder: its arrays in the released order
        return [list(a.shape) for a in _read_hf(params_dir)["arrays"]]
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
    needed = 2 + N_BLOCK * n_transfer
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


MANIFEST = release.MANIFEST
MANIFEST_FORMAT = '{"files": {name: {"bytes": n, "sha256": hex}}}'
WEIGHT_FILES = [release.SHAPES_FILE] + list(release.SHARD_FILES)
UNVERIFIED_FLAG = "--unverified_weights"

# realpath of a file -> (size, mtime_ns) when verify_params_dir checked it (or accepted
# it unverified), so that load_shards does not hash the same unchanged file again.
_ACCEPTED = {}


def _stat_key(path):
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def _accept(path):
    _ACCEPTED[os.path.realpath(path)] = _stat_key(path)


def _accepted(path):
    return _ACCEPTED.get(os.path.realpath(path)) == _stat_key(path)


def read_manifest(params_dir):
    """{name: {"bytes": n, "sha256": hex}} from `params_dir/manifest.json`, or None when
    the folder carries no manifest (the release)."""
    path = os.path.join(params_dir, MANIFEST)
    if not os.path.lexists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as err:
        raise UserError("%s cannot be read as JSON (%s): expected %s"
                        % (path, " ".join(str(err).split()), MANIFEST_FORMAT)) from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise UserError("%s: expected %s" % (path, MANIFEST_FORMAT))
    for name, entry in files.items():
        ok = (isinstance(name, str) and name and os.path.basename(name) == name
              and name not in (".", "..") and isinstance(entry, dict)
              and type(entry.get("bytes")) is int and entry["bytes"] >= 0
              and isinstance(entry.get("sha256"), str)
              and len(entry["sha256"]) == 64
              and all(c in "0123456789abcdef" for c in entry["sha256"].lower()))
        if not ok:
            raise UserError("%s: entry %s is %s; expected a file name of the folder mapped to "
                            '{"bytes": n, "sha256": 64 hex digits}'
                            % (path, json.dumps(name), json.dumps(entry)))
    return files


def missing_weights(params_dir):
    """Weight files (params_shapes.json and the 10 shards) absent from `params_dir`."""
    if hf.is_hf_dir(params_dir):
        return []
    return [n for n in WEIGHT_FILES if not os.path.isfile(os.path.join(params_dir, n))]


def _verify_release(path, name, params_dir, blob_ids):
    got = release.git_blob_id(path)
    if got != blob_ids[name]:
        raise UserError("%s (%d bytes) has git blob id %s, expected %s: it is not the released "
                        "file; delete it and run `%s --dest %s`, or, for weights of your own in "
                        "the released format, add a %s to the folder or pass %s"
                        % (path, os.path.getsize(path), got, blob_ids[name],
                           release.DOWNLOAD_COMMAND, params_dir, MANIFEST, UNVERIFIED_FLAG))


def _verify_manifest(path, name, params_dir, files):
    where = os.path.join(params_dir, MANIFEST)
    entry = files.get(name)
    if entry is None:
        raise UserError("%s does not list %s: expected every weight file (%s) with its bytes "
                        "and sha256" % (where, name, ", ".join(WEIGHT_FILES)))
    size = os.path.getsize(path)
    if size != entry["bytes"]:
        raise UserError("%s has %d bytes; %s says %d: the file is not the one the manifest "
                        "describes (truncated or replaced)" % (path, size, where, entry["bytes"]))
    got = sha256_file(path)
    if got != entry["sha256"].lower():
        raise UserError("%s has sha256 %s; %s says %s: the file is not the one the manifest "
                        "describes" % (path, got, where, entry["sha256"].lower()))


def verify_params_dir(params_dir, n_transfer, unverified=False, out=None):
    """Check the weights folder before any slow work; returns how it was checked:
    None (n_transfer -1: no weights loaded), "release" (upstream git blob ids),
    "manifest" (the folder's manifest.json) or "unverified" (one warning line on
    `out`). Raises UserError naming the file and what was expected."""
    if n_transfer == -1:
        return None
    if os.path.exists(params_dir) and not os.path.isdir(params_dir):
        raise UserError("--params_dir %s is a file; expected the folder of the weights"
                        % params_dir)
    if hf.is_hf_dir(params_dir):
        out = sys.stderr if out is None else out
        print("note: the weights are read from the Hugging Face checkpoint %s: not verified "
              "against the release (`python -m finetune_lm.convert from-hf %s --out DIR` "
              "writes the released format and checks it against the release's ids)"
              % (os.path.join(params_dir, hf.SAFETENSORS), params_dir), file=out)
        out.flush()
        return "hf"
    missing = missing_weights(params_dir)
    if missing:
        raise UserError("%s is incomplete, missing %s: run `%s --dest %s` (about 466 MB)"
                        % (params_dir, ", ".join(missing), release.DOWNLOAD_COMMAND,
                           params_dir))
    paths = [(name, os.path.join(params_dir, name)) for name in WEIGHT_FILES]
    if unverified:
        out = sys.stderr if out is None else out
        print("warning: loading the weights in %s unverified (%s): neither the release's "
              "ids nor a %s are checked" % (params_dir, UNVERIFIED_FLAG, MANIFEST), file=out)
        out.flush()
        how = "unverified"
    else:
        files = read_manifest(params_dir)
        for name, path in paths:
            if files is not None:
                _verify_manifest(path, name, params_dir, files)
            else:
                _verify_release(path, name, params_dir, release.BLOB_IDS)
        how = "release" if files is None else "manifest"
    for _, path in paths:
        _accept(path)
    return how


def load_shards(params_dir, shapes, blob_ids=release.BLOB_IDS):
    """The released arrays: the 10 shards concatenated, split at the shapes' sizes.

    Each shard is checked against its upstream git blob id (`blob_ids`), or, when the
    folder carries a manifest.json and blob_ids is the release's, against the
    manifest; a shard verify_params_dir already checked (or accepted unverified) and
    unchanged since is not hashed again. blob_ids None skips the checks (stand-ins).
    """
    if hf.is_hf_dir(params_dir):
        arrays = read_hf(params_dir)["arrays"]
        if [list(a.shape) for a in arrays] != [list(s) for s in shapes]:
            raise UserError("%s: the arrays' shapes are not %s" % (params_dir, shapes))
        return arrays
    missing = [n for n in release.SHARD_FILES if not os.path.isfile(os.path.join(params_dir, n))]
    if missing:
        raise UserError("%s lacks %s: run `%s --dest %s` (about 466 MB)"
                        % (params_dir, ", ".join(missing), release.DOWNLOAD_COMMAND, params_dir))
    files = read_manifest(params_dir) if blob_ids is release.BLOB_IDS else None
    flat = []
    for name in release.SHARD_FILES:
        path = os.path.join(params_dir, name)
        if blob_ids is not None and not (blob_ids is release.BLOB_IDS and _accepted(path)):
            if files is not None:
                _verify_manifest(path, name, params_dir, files)
            else:
                _verify_release(path, name, params_dir, blob_ids)
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


def save_params(path, arrays):
    joblib.dump(list(arrays), path)


def manifest_model(params_dir):
    """The "model" entry (n_head, afn, ...) of the folder's manifest.json, if any (the
    folders finetune_lm.pretrain writes carry one; the release has no manifest)."""
    path = os.path.join(params_dir, MANIFEST)
    if hf.is_hf_dir(params_dir):  # a Hugging Face folder: its config.json
        config = hf.read_config(params_dir)
        return {k: config[k] for k in ("n_head", "afn") if k in config}
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            model = json.load(f).get("model", {})
    except (OSError, ValueError, AttributeError):
        return {}  # verify_params_dir names what is wrong with it
    return model if isinstance(model, dict) else {}
