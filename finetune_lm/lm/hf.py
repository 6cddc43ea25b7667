"""GPT-1 weights in the Hugging Face layout (`openai-community/openai-gpt`: a folder with
`model.safetensors` and `config.json`) and in the released format, both ways, with the
`safetensors` package's NumPy API only (no torch, no transformers).

The two layouts hold the same arrays under other names (transformers'
`load_tf_weights_in_openai_gpt` copied the released .npy files in 2018):

| released (params_shapes.json order)  | Hugging Face key (`transformer.` prefix optional) |
|---|---|
| positions [n_pos, C]                 | positions_embed.weight [n_pos, C]                 |
| tokens [V, C]                        | tokens_embed.weight [V (+ added tokens), C]       |
| h<i>/attn/c_attn/w [1, C, 3C] ...    | h.<i>.attn.c_attn.weight [C, 3C] ...              |
| h<i>/ln_1/g, h<i>/ln_1/b             | h.<i>.ln_1.weight, h.<i>.ln_1.bias                |

No transposes: the original's conv1d reshapes its `[1, nx, nf]` weight to `[nx, nf]`,
and transformers' Conv1D stores `[nx, nf]`. `lm_head.weight` (tied to the tokens) and the
`attn.bias` causal-mask buffers are not weights and are ignored.

The released format is written as the original's files were: one float32 stream
(positions, tokens, the layers in release order) cut into ten with np.array_split,
each `.npy` with the header numpy wrote in 2017-2018 (numpy < 1.14: the header padded
so that the data starts at a multiple of 16 bytes, where numpy >= 1.14 pads to 64), and
`params_shapes.json` as json.dumps wrote it. Where the result is the release bit for
bit, every file has its upstream git blob id; `write_released` says which.
"""

import json
import os
import re
import shutil
import struct

import numpy as np

from finetune_lm.model import release
from finetune_lm.model import variables
from finetune_lm.model.config import AFNS
from finetune_lm.util import records
from finetune_lm.util.errors import UserError, as_os_error
from finetune_lm.util.files import sha256_file

SAFETENSORS = "model.safetensors"
CONFIG = "config.json"
VOCAB = "vocab.json"
MERGES = "merges.txt"
PREFIX = "transformer."
HEAD_FILE = "clf_head.safetensors"

# (released name within a layer, Hugging Face key within h.<i>.), in release order:
# model/variables.py's BLOCK.
BLOCK_KEYS = variables.BLOCK_KEYS
# Keys that hold no weight of the transformer: the tied LM head, the causal-mask
# buffers, the task heads of transformers' classes (read separately).
_IGNORED = re.compile(r"^(lm_head\.weight|h\.\d+\.attn\.(bias|masked_bias)|"
                      r"multiple_choice_head\..*|score\..*)$")
_LAYER = re.compile(r"^h\.(\d+)\.(.+)$")
LAYOUT = ("the openai-community/openai-gpt layout: tokens_embed.weight, positions_embed.weight "
          "and per layer h.<i>.attn.c_attn, attn.c_proj, ln_1, mlp.c_fc, mlp.c_proj, ln_2 "
          "(weight, bias), with or without the `transformer.` prefix")


def is_hf_dir(path):
    """A folder holding model.safetensors and not the released params_shapes.json."""
    return (bool(path) and os.path.isdir(path) and os.path.isfile(os.path.join(path, SAFETENSORS))
            and not os.path.isfile(os.path.join(path, release.SHAPES_FILE)))


def vocab_path(params_dir, name):
    """Where a vocabulary file of `params_dir` is: encoder_bpe_40000.json / vocab_40000.bpe,
    or, in a Hugging Face folder, vocab.json / merges.txt (the same vocabulary)."""
    if is_hf_dir(params_dir):
        hf_name = {release.ENCODER_FILE: VOCAB, release.BPE_FILE: MERGES}.get(name)
        if hf_name and os.path.isfile(os.path.join(params_dir, hf_name)):
            return os.path.join(params_dir, hf_name)
    return os.path.join(params_dir, name)


# The keys of transformers' openai-gpt config.json that are read (all optional: the
# tensors give the sizes; n_head and afn default to GPT-1's 12 and gelu).
CONFIG_SCHEMA = {
    "n_layer": records.integer("a positive integer (the blocks)", 1, required=False),
    "n_embd": records.integer("a positive integer (the width)", 1, required=False),
    "n_head": records.integer("a positive integer (the attention heads)", 1, required=False),
    "n_positions": records.integer("a positive integer (the positions)", 1, required=False),
    "vocab_size": records.integer("a positive integer (the token rows)", 1, required=False),
    "afn": records.name(AFNS, required=False),
    "finetune_lm": records.Field((dict,), "an object (what finetune_lm.export records)",
                                 required=False),
}


def read_config(folder):
    """config.json of a Hugging Face folder ({} when absent), its keys checked."""
    path = os.path.join(folder, CONFIG)
    if not os.path.isfile(path):
        return {}
    return records.read(path, CONFIG_SCHEMA, "a JSON object, a transformers config")


def _open(path):
    from safetensors import safe_open
    try:
        return safe_open(path, framework="numpy")
    except Exception as err:  # safetensors raises its own error types
        raise UserError("%s is not a readable safetensors file (%s)"
                        % (path, " ".join(str(err).split()))) from None


def read_tensors(path):
    """{key: numpy array} of a safetensors file."""
    if not os.path.isfile(path):
        raise UserError("missing %s" % path)
    with _open(path) as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def read_hf(folder):
    """The transformer of a Hugging Face GPT-1 folder, in the released format's order.

    Returns a dict: arrays [positions, tokens, h0 ... (variables.N_BLOCK per layer)] float32 in the
    released shapes; n_layer, n_embd, n_head, afn; n_added: token rows beyond the
    vocabulary (vocab.json) that were dropped (the special tokens of a fine-tuned
    export); added_rows (those rows); head: {key: array} of a task head, if any;
    config: config.json."""
    path = os.path.join(folder, SAFETENSORS)
    if not os.path.isfile(path):
        raise UserError("%s has no %s: expected a Hugging Face GPT-1 folder (%s, config.json)"
                        % (folder, SAFETENSORS, SAFETENSORS))
    config = read_config(folder)
    tensors = {}
    head = {}
    with _open(path) as f:
        keys = list(f.keys())
        for key in keys:
            name = key[len(PREFIX):] if key.startswith(PREFIX) else key
            if name.startswith("multiple_choice_head.") or name.startswith("score."):
                head[name] = f.get_tensor(key)
                continue
            if _IGNORED.match(name):
                continue
            if name in tensors:
                raise UserError("%s holds %s twice (with and without the `transformer.` prefix)"
                                % (path, name))
            tensors[name] = f.get_tensor(key)
    if "wte.weight" in tensors:
        raise UserError("%s is in GPT-2's layout (wte.weight); expected GPT-1, %s" % (path, LAYOUT))
    for name in ("tokens_embed.weight", "positions_embed.weight"):
        if name not in tensors:
            raise UserError("%s has no %s: expected %s" % (path, name, LAYOUT))
    layers = sorted({int(m.group(1)) for m in map(_LAYER.match, tensors) if m})
    n_layer = len(layers)
    if layers != list(range(n_layer)):
        raise UserError("%s: layers %s; expected h.0 .. h.%d" % (path, layers, n_layer - 1))
    known = {"tokens_embed.weight", "positions_embed.weight"} | {
        "h.%d.%s" % (i, k) for i in layers for _, k in BLOCK_KEYS}
    unknown = sorted(set(tensors) - known)
    if unknown:
        raise UserError("%s: unexpected keys %s; expected %s"
                        % (path, ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else ""),
                           LAYOUT))
    tokens, positions = tensors["tokens_embed.weight"], tensors["positions_embed.weight"]
    if tokens.ndim != 2 or positions.ndim != 2 or tokens.shape[1] != positions.shape[1]:
        raise UserError("%s: tokens_embed.weight %s and positions_embed.weight %s; expected "
                        "[V, C] and [n_positions, C]"
                        % (path, list(tokens.shape), list(positions.shape)))
    c = tokens.shape[1]
    # transformers' shapes: the release's without the leading 1 of the conv weights
    expected = {k: shape[-2:] if len(shape) == 3 else shape
                for (_, k), shape in zip(BLOCK_KEYS, variables.block_shapes(c))}
    n_vocab = tokens.shape[0]
    vocab_file = os.path.join(folder, VOCAB)
    if os.path.isfile(vocab_file):
        try:
            with open(vocab_file, encoding="utf-8") as f:
                n_vocab = min(n_vocab, len(json.load(f)))
        except (OSError, ValueError, TypeError) as err:
            raise UserError("%s cannot be read as JSON (%s)" % (vocab_file, err)) from None
    arrays = [positions, tokens[:n_vocab]]
    for i in layers:
        for _, k in BLOCK_KEYS:
            key = "h.%d.%s" % (i, k)
            if key not in tensors:
                raise UserError("%s has no %s: expected %s" % (path, key, LAYOUT))
            a = tensors[key]
            if list(a.shape) != expected[k]:
                raise UserError("%s: %s has shape %s; the width %d expects %s"
                                % (path, key, list(a.shape), c, expected[k]))
            arrays.append(a.reshape([1] + list(a.shape)) if a.ndim == 2 else a)
    bad = sorted({str(a.dtype) for a in arrays if a.dtype != np.float32})
    if bad:
        raise UserError("%s holds %s arrays; expected float32 (the release's type)"
                        % (path, ", ".join(bad)))
    for key, value, want in (("n_layer", config.get("n_layer"), n_layer),
                             ("n_embd", config.get("n_embd"), c)):
        if value is not None and value != want:
            raise UserError("%s: %s %s, but %s holds %d" % (os.path.join(folder, CONFIG), key,
                                                            value, SAFETENSORS, want))
    return {"arrays": [np.ascontiguousarray(a) for a in arrays], "n_layer": n_layer,
            "n_embd": c, "n_head": int(config.get("n_head", 12)),
            "afn": config.get("afn", "gelu"), "n_added": tokens.shape[0] - n_vocab,
            "added_rows": tokens[n_vocab:], "head": head, "config": config}


# -- the released format, as written in 2018 ----------------------------------------------

def npy_bytes_2018(array):
    """The .npy header numpy < 1.14 wrote for a 1-D little-endian float32 array:
    format 1.0, the dict in sorted key order with a trailing ", ", padded with spaces
    and a newline so that magic + length + header is a multiple of 16."""
    a = np.ascontiguousarray(array, "<f4")
    if a.ndim != 1:
        raise ValueError("expected a 1-D array")
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }" % a.shape[0]
    current = 8 + 2 + len(header) + 1  # magic and version, the length field, the newline
    header = header + " " * (16 - current % 16) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")


def write_npy_2018(path, array):
    with open(path, "wb") as f:
        f.write(npy_bytes_2018(array))
        f.write(np.ascontiguousarray(array, "<f4").tobytes())


def write_released(out, arrays, model=None, vocab=None, merges=None, note=None):
    """Write `arrays` (positions, tokens, the layers: released order and shapes) to folder
    `out` in the released format, with the vocabulary files when given (vocab: the
    encoder's JSON text; merges: the BPE file's bytes). Returns (is_release, files):
    is_release True when every weight file has its upstream git blob id (then no
    manifest is written: the folder is the release); otherwise a manifest.json lists
    every file's size and SHA-256, with `model` (the sizes) and `note`."""
    os.makedirs(out, exist_ok=True)
    shapes = [list(a.shape) for a in arrays]
    with open(os.path.join(out, release.SHAPES_FILE), "w") as f:
        f.write(json.dumps(shapes))
    flat = np.concatenate([np.asarray(a, np.float32).ravel() for a in arrays])
    for name, chunk in zip(release.SHARD_FILES, np.array_split(flat, release.N_SHARDS)):
        write_npy_2018(os.path.join(out, name), chunk)
    del flat
    names = [release.SHAPES_FILE] + list(release.SHARD_FILES)
    if vocab is not None:
        with open(os.path.join(out, release.ENCODER_FILE), "w", encoding="utf-8") as f:
            f.write(vocab)
        names.append(release.ENCODER_FILE)
    if merges is not None:
        with open(os.path.join(out, release.BPE_FILE), "wb") as f:
            f.write(merges)
        names.append(release.BPE_FILE)
    ids = {n: release.git_blob_id(os.path.join(out, n)) for n in names}
    weight_files = [release.SHAPES_FILE] + list(release.SHARD_FILES)
    is_release = all(ids[n] == release.BLOB_IDS[n] for n in weight_files)
    manifest_path = os.path.join(out, release.MANIFEST)
    if is_release:
        if os.path.exists(manifest_path):
            os.remove(manifest_path)
    else:
        files = {n: {"bytes": os.path.getsize(os.path.join(out, n)),
                     "sha256": sha256_file(os.path.join(out, n))} for n in names}
        manifest = {"files": files}
        if model:
            manifest["model"] = model
        if note:
            manifest["note"] = note
        with open(manifest_path, "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.write("\n")
    return is_release, ids


def hf_vocab_texts(folder):
    """(encoder JSON text as the release writes it, merges bytes) of a Hugging Face
    folder's vocab.json / merges.txt; None for a file it lacks."""
    vocab = merges = None
    path = os.path.join(folder, VOCAB)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            vocab = json.dumps(json.load(f))
    path = os.path.join(folder, MERGES)
    if os.path.isfile(path):
        with open(path, "rb") as f:
            merges = f.read()
    return vocab, merges


# -- export to the Hugging Face layout ------------------------------------------------------

def hf_tensors(we, layers, n_vocab_rows, n_layer, prefix=PREFIX):
    """{key: array} of the transformer: tokens_embed = the first n_vocab_rows rows of
    `we` (tokens and any special rows), positions_embed = the rest; conv weights
    [1, nx, nf] -> [nx, nf]."""
    we = np.asarray(we, np.float32)
    out = {prefix + "tokens_embed.weight": np.ascontiguousarray(we[:n_vocab_rows]),
           prefix + "positions_embed.weight": np.ascontiguousarray(we[n_vocab_rows:])}
    for i in range(n_layer):
        for j, (_, k) in enumerate(BLOCK_KEYS):
            a = np.asarray(layers[variables.N_BLOCK * i + j], np.float32)
            out["%sh.%d.%s" % (prefix, i, k)] = np.ascontiguousarray(
                a.reshape(a.shape[1:]) if a.ndim == 3 else a)
    return out


def save_tensors(path, tensors, metadata=None):
    from safetensors import SafetensorError
    from safetensors.numpy import save_file
    try:
        save_file(tensors, path, metadata=dict({"format": "pt"}, **(metadata or {})))
    except SafetensorError as err:  # its I/O errors carry only a message: as the OSError
        os_err = as_os_error(err, path)
        if os_err is None:
            raise
        raise os_err from None


def gpt_config(n_vocab_rows, n_positions, n_embd, n_layer, n_head, afn, architecture,
               num_labels=None, id2label=None, extra=None):
    """config.json of transformers' openai-gpt model type."""
    config = {
        "architectures": [architecture], "model_type": "openai-gpt", "afn": afn,
        "attn_pdrop": 0.1, "embd_pdrop": 0.1, "resid_pdrop": 0.1,
        "initializer_range": 0.02, "layer_norm_epsilon": 1e-5,
        "n_embd": n_embd, "n_head": n_head, "n_layer": n_layer,
        "n_positions": n_positions, "vocab_size": n_vocab_rows,
        "summary_type": "cls_index", "summary_use_proj": True, "summary_activation": None,
        "summary_proj_to_labels": True, "summary_first_dropout": 0.1,
        "predict_special_tokens": True,
    }
    if num_labels is not None:
        id2label = id2label or ["LABEL_%d" % i for i in range(num_labels)]
        config["id2label"] = {str(i): n for i, n in enumerate(id2label)}
        config["label2id"] = {n: i for i, n in enumerate(id2label)}
    if extra:
        config.update(extra)
    return config


def write_tokenizer(out, encoder_path, bpe_path, specials=None):
    """vocab.json and merges.txt (the release's two files, as they are), and the special
    tokens registered with the ids the model uses (added_tokens.json,
    special_tokens_map.json, tokenizer_config.json)."""
    shutil.copyfile(encoder_path, os.path.join(out, VOCAB))
    shutil.copyfile(bpe_path, os.path.join(out, MERGES))
    config = {"tokenizer_class": "OpenAIGPTTokenizer", "unk_token": "<unk>",
              "model_max_length": 512, "do_lower_case": True}
    if specials:
        added = {name: int(i) for name, i in specials}
        with open(os.path.join(out, "added_tokens.json"), "w") as f:
            json.dump(added, f, indent=1)
        config["additional_special_tokens"] = list(added)
        config["added_tokens_decoder"] = {
            str(i): {"content": name, "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False, "special": True} for name, i in added.items()}
        with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
            json.dump({"unk_token": "<unk>", "additional_special_tokens": list(added)}, f,
                      indent=1)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=1)
