"""Model folders in the released format (params_shapes.json, params_0..9.npy, the two
vocabulary files, and for a model not the release its manifest.json), and the
transformer's arrays read from them or from a train.py best_params.jl, for the
language-model tools (sample, perplexity, pre-training).
"""

import json
import os
import shutil

import joblib
import numpy as np
import tensorflow as tf

from finetune_lm.model import release
from finetune_lm.lm.weights import (MANIFEST, check_init_from, load_shards, manifest_model,
                                    read_shapes, verify_params_dir)
from finetune_lm.model.hparams import HParams
from finetune_lm.model.variables import param_shapes
from finetune_lm.util.errors import UserError
from finetune_lm.util.files import sha256_file


def released_arrays(arrays, hp):
    """[positions, tokens, h0 ...] (the release's order) of our [we, h0 ...]: we holds
    the tokens, hp.n_special rows (dropped), then the positions."""
    we = np.asarray(arrays[0], np.float32)
    return ([we[hp.n_vocab + hp.n_special:], we[:hp.n_vocab]]
            + [np.asarray(a, np.float32) for a in arrays[1:1 + 12 * hp.n_layer]])


def write_params_dir(out, arrays, hp, encoder_path, bpe_path, info=None):
    """Write the model in the released format to folder `out`: params_shapes.json,
    params_0..9.npy (one float32 stream: positions, tokens, each layer's 12 arrays,
    cut in 10), the two vocabulary files, and manifest.json ({"files": {name: {"bytes",
    "sha256"}}, "model": the sizes}). The folder is written beside `out` and renamed
    into place: a kill leaves the previous complete folder (or, between the two
    renames, `<out>.old-*`)."""
    out = os.path.normpath(out)
    parent = os.path.dirname(out) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, ".%s.tmp-%d" % (os.path.basename(out), os.getpid()))
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    released = released_arrays(arrays, hp)
    with open(os.path.join(tmp, release.SHAPES_FILE), "w") as f:
        json.dump([list(a.shape) for a in released], f)
    flat = np.concatenate([a.ravel() for a in released])
    for name, chunk in zip(release.SHARD_FILES, np.array_split(flat, release.N_SHARDS)):
        with open(os.path.join(tmp, name), "wb") as f:
            np.save(f, chunk)
    del flat
    shutil.copyfile(encoder_path, os.path.join(tmp, release.ENCODER_FILE))
    shutil.copyfile(bpe_path, os.path.join(tmp, release.BPE_FILE))
    files = {}
    for name in release.FILES:
        path = os.path.join(tmp, name)
        files[name] = {"bytes": os.path.getsize(path), "sha256": sha256_file(path)}
    model = {"n_vocab": hp.n_vocab, "n_ctx": int(released[0].shape[0]), "n_embd": hp.n_embd,
             "n_head": hp.n_head, "n_layer": hp.n_layer, "afn": hp.afn}
    manifest = {"files": files, "model": model}
    if info:
        manifest["trained"] = info
    with open(os.path.join(tmp, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    for name in os.listdir(tmp):
        fd = os.open(os.path.join(tmp, name), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    if os.path.exists(out):
        old = os.path.join(parent, ".%s.old-%d" % (os.path.basename(out), os.getpid()))
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old)
    else:
        os.rename(tmp, out)
    return out


def _flag_check(flag, given, found, where):
    if given is not None and given != found:
        raise UserError("%s %d does not fit %s, which has %d" % (flag, given, where, found))
    return found


def lm_hparams(n_vocab, n_special, n_ctx, n_embd, n_layer, n_head, afn, where):
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
    expected = list(param_shapes(hp).values())[1:1 + 12 * n_layer]
    for i, (got, want) in enumerate(zip(shapes[2:], expected)):
        if got != want:
            raise UserError("%s: array %d has shape %s; --n_embd %d expects %s"
                            % (where, i + 2, got, n_embd, want))
    arrays = load_shards(params_dir, shapes)  # verified above: not hashed again
    we = np.concatenate([arrays[1], arrays[0]], 0)
    return [we] + arrays[2:], hp


def run_model_json(best_params_path):
    """The model.json that train.py writes beside best_params.jl ({} when absent)."""
    path = os.path.join(os.path.dirname(best_params_path) or ".", "model.json")
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def load_checkpoint(path, n_vocab, n_layer=None, n_embd=None, n_head=None, afn=None):
    """(arrays, hp) of a train.py best_params.jl: we (tokens, 3 special rows, the
    fine-tuning context's positions), the layers, the task head (not read)."""
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
    info = run_model_json(path)  # the sizes train.py wrote beside best_params.jl
    hp = lm_hparams(n_vocab, 3, n_ctx, width, n_layer, n_head or info.get("n_head", 12),
                    afn or info.get("afn", "gelu"), path)
    for i, (name, shape) in enumerate(list(param_shapes(hp).items())[:1 + 12 * n_layer]):
        if list(np.shape(arrays[i])) != list(shape):
            raise UserError("--checkpoint %s: array %d (%s) has shape %s; the flags (--n_embd "
                            "%d, --n_layer %d) expect %s" % (path, i, name,
                                                             list(np.shape(arrays[i])), width,
                                                             n_layer, list(shape)))
    return [np.asarray(a, np.float32) for a in arrays[:1 + 12 * n_layer]], hp


def as_variables(arrays, hp):
    """{name: tf.Variable} of the transformer's variables (no task head)."""
    names = list(param_shapes(hp))[:1 + 12 * hp.n_layer]
    return {n: tf.Variable(np.asarray(a, np.float32), name=n, trainable=False)
            for n, a in zip(names, arrays)}


def init_arrays(init_from, hp, encoder_n_vocab):
    """[we, layers...] continuing from a released-format folder (domain adaptation):
    tokens and the first n_ctx positions as we, every layer; the folder's sizes must be
    the flags'."""
    check_init_from(init_from, hp.n_embd, hp.n_layer, hp.n_ctx)
    arrays, _ = load_params_dir(init_from, encoder_n_vocab, hp.n_layer, hp.n_embd, hp.n_head)
    we = arrays[0]
    return [np.concatenate([we[:hp.n_vocab], we[hp.n_vocab:hp.n_vocab + hp.n_ctx]], 0)] + arrays[1:]
