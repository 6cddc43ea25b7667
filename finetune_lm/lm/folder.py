"""Model folders in the released format (params_shapes.json, params_0..9.npy, the two
vocabulary files, and for a model not the release its manifest.json), and the
transformer's arrays read from them or from a train.py best_params.jl, for the
language-model tools (sample, perplexity, pre-training).
"""

import json
import os
import shutil

import numpy as np
import tensorflow as tf

from finetune_lm.lm import hf
from finetune_lm.model import release
from finetune_lm.lm.loader import check_init_from, load
from finetune_lm.lm.weights import MANIFEST
from finetune_lm.model.config import of as config_of_hp
from finetune_lm.model.hparams import HParams
from finetune_lm.model.variables import n_transformer, param_shapes
from finetune_lm.util.errors import UserError
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


def _flag_check(flag, given, found, where):
    if given is not None and given != found:
        raise UserError("%s %d does not fit %s, which has %d" % (flag, given, where, found))
    return found


def _lm_hparams(config, where, n_layer=None, n_embd=None, n_head=None, afn=None):
    """HParams of the language model alone: the config, the flags that may only agree
    with it (n_layer, n_embd) or replace what it recorded (n_head, afn)."""
    _flag_check("--n_layer", n_layer, config.n_layer, where + " (layers)")
    _flag_check("--n_embd", n_embd, config.n_embd, where + " (width)")
    config = config.replace(n_head=n_head or config.n_head, afn=afn or config.afn,
                            head=None)
    if config.n_embd % config.n_head:
        raise UserError("--n_head %d does not divide the width %d of %s; pass --n_head"
                        % (config.n_head, config.n_embd, where))
    return HParams.of(config)


def load_params_dir(params_dir, n_vocab, n_layer=None, n_embd=None, n_head=None, afn=None):
    """(arrays, hp) of a folder in the released format (or a Hugging Face folder), through
    the loader: the release (checked against the upstream blob ids) or a model
    pre-trained here (checked against its manifest). arrays: [we, the blocks] with we =
    tokens then positions (no special rows: hp.n_special 0)."""
    config, arrays = load(params_dir, n_vocab=n_vocab)
    where = os.path.join(params_dir, hf.SAFETENSORS if hf.is_hf_dir(params_dir)
                         else release.SHAPES_FILE)
    return arrays, _lm_hparams(config, where, n_layer, n_embd, n_head, afn)


def load_checkpoint(path, n_vocab, n_layer=None, n_embd=None, n_head=None, afn=None):
    """(arrays, hp) of a train.py best_params.jl, through the loader: we (tokens, 3
    special rows, the fine-tuning context's positions) and the layers; the task head is
    not read."""
    if not os.path.isfile(path):
        raise UserError("--checkpoint %s: no such file" % path)
    config, arrays = load(path, n_vocab=n_vocab)
    if config.n_vocab != n_vocab:
        raise UserError("--checkpoint %s: its model has %d tokens; the vocabulary has %d "
                        "entries: expected the same" % (path, config.n_vocab, n_vocab))
    if n_embd is not None and n_embd != config.n_embd:
        rows = config.n_we
        raise UserError("--checkpoint %s: array 0 (model/we) has shape %s; --n_embd %d expects "
                        "[%d, %d]" % (path, [rows, config.n_embd], n_embd, rows, n_embd))
    hp = _lm_hparams(config, "--checkpoint " + path, n_layer, n_embd, n_head, afn)
    return arrays[:n_transformer(config.n_layer)], hp


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
