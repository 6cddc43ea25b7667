"""Model folders in the released format (params_shapes.json, params_0..9.npy, the two
vocabulary files, and for a model not the release its manifest.json), and the
transformer's variables for the language-model tools (sample, perplexity,
pre-training); the arrays are read by lm/loader.py (load_params_dir, load_checkpoint,
named here too).
"""

import json
import os
import shutil

import numpy as np
import tensorflow as tf

from finetune_lm.model import release
# load_params_dir, load_checkpoint: the loader's (no TensorFlow), named here too
from finetune_lm.lm.loader import check_init_from, load_checkpoint, load_params_dir  # noqa: F401
from finetune_lm.lm.weights import MANIFEST
from finetune_lm.model.config import of as config_of_hp
from finetune_lm.model.variables import n_transformer, param_shapes
from finetune_lm.util.files import sha256_file


def released_arrays(arrays, hp):
    """[positions, tokens, h0 ...] (the release's order) of our [we, h0 ...]: we holds
    the tokens, hp.n_special rows (dropped), then the positions."""
    we = np.asarray(arrays[0], np.float32)
    return ([we[hp.n_vocab + hp.n_special:], we[:hp.n_vocab]]
            + [np.asarray(a, np.float32) for a in arrays[1:n_transformer(hp.n_layer)]])


def write_params_dir(out, arrays, hp, encoder_path, bpe_path, info=None):
    """Write the model in the released format to folder `out`: params_shapes.json,
    params_0..9.npy (one float32 stream: positions, tokens, each layer's arrays, cut in
    10), the two vocabulary files, and manifest.json ({"files": {name: {"bytes",
    "sha256"}}, "model": the ModelConfig of what the folder holds}). The folder is written beside `out` and renamed
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
    # The folder holds the transformer: no special rows, every position, no head.
    model = config_of_hp(hp).replace(n_special=0, n_ctx=int(released[0].shape[0]), head=None,
                                     n_seq=1, n_out=1, soft_targets=False,
                                     label_names=None).to_dict()
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


def as_variables(arrays, hp):
    """{name: tf.Variable} of the transformer's variables (no task head)."""
    names = list(param_shapes(hp))[:n_transformer(hp.n_layer)]
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
