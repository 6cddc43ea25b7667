"""The one loader: `load(path) -> (config, arrays)` for every format the project takes,
and `config_of(path)`, the config alone (cheap: no shard is read), for the checks that
come before any slow work.

| path                                               | config from                      |
|----------------------------------------------------|----------------------------------|
| the release (params_shapes.json, params_*.npy)     | the shapes; GPT-1's 12 heads     |
| a folder with a manifest.json (pre-training's out) | the shapes and manifest "model"  |
| a Hugging Face folder (model.safetensors)          | the tensors and config.json      |
| a run's folder, or its best_params.jl              | model.json beside it             |
| a best_params.jl without model.json (older runs)   | the arrays' shapes and n_vocab   |
| an export (finetune_lm/export.py): --to hf         | model.json beside the tensors    |
| an export --to saved_model (saved_model.pb)        | model.json; the variables read   |
|                                                    | with TensorFlow                  |

arrays are in model/variables.py's order: `we` (tokens, n_special rows, positions), the
blocks, then the head's clf/w and clf/b when config.head is set. The released formats
have no special rows (n_special 0) and hold every position they have (n_ctx). An
export's model.json is a run's whole record (a fine-tuned model: its 3 special rows and
its head, from multiple_choice_head.* or clf_head.safetensors) or the config alone
(language-model weights). Every record read is checked key by key (util/records.py): a
damaged one is one UserError naming the file and the key. Nothing here imports
TensorFlow, but for the variables of a SavedModel export (TensorFlow's checkpoint
format), imported where they are read.
"""

import json

import os

import numpy as np

from finetune_lm.lm import hf, weights
from finetune_lm.model import release
from finetune_lm.model import config as model_config
from finetune_lm.model.config import ModelConfig
from finetune_lm.model.hparams import HParams
from finetune_lm.model.variables import N_BLOCK, n_layers_of, n_transformer, param_shapes
from finetune_lm.util import records
from finetune_lm.util.errors import UserError

MODEL_JSON = "model.json"
BEST = "best_params.jl"
SAVED_MODEL = "saved_model.pb"
# Where a SavedModel export keeps a variable: finetune_lm/export.py's module holds them in
# its dict `params`, under saved_name(name); tf.train.load_checkpoint reads them by this key.
SAVED_MODEL_VARIABLES = os.path.join("variables", "variables")
SAVED_MODEL_KEY = "params/%s/.ATTRIBUTES/VARIABLE_VALUE"
GPT1_HEADS = 12  # the release records no heads: GPT-1's

# model.json's keys besides the config's (training/finetuning.py:model_info writes them).
_str = lambda expected, **kw: records.Field((str,), expected, **kw)  # noqa: E731
RUN_SCHEMA = {
    "head": records.name(model_config.HEAD_KINDS),
    "n_seq": model_config.SCHEMA["n_seq"].__class__(**dict(
        model_config.SCHEMA["n_seq"].__dict__, required=True)),
    "n_out": model_config.SCHEMA["n_out"].__class__(**dict(
        model_config.SCHEMA["n_out"].__dict__, required=True)),
    "task": _str("the task's name"),
    "task_spec": records.Field((dict,), "an object (the spec of a task not in the table)",
                               required=False, nullable=True),
    "version": records.integer("a positive integer (model.json's version)", 1, required=False),
    "clf_token": records.integer("the `_classify_` token's id", required=False),
    "n_ctx_flag": records.integer("a positive integer (the --n_ctx of the run)", 1,
                                  required=False, nullable=True),
    "n_batch": records.integer("a positive integer", 1, required=False),
    "n_gpu": records.integer("a positive integer", 1, required=False),
    "xla": records.flag(required=False),
    "compute_dtype": records.name(("float32", "bfloat16", "float16"), required=False),
    "data_dir": _str("a folder's path", required=False, nullable=True),
    "encoder_path": _str("a file's path", required=False, nullable=True),
    "bpe_path": _str("a file's path", required=False, nullable=True),
    "vocab_sha256": records.Field((dict,), 'an object {"encoder": hex, "bpe": hex}',
                                  required=False, nullable=True),
}

MODEL_JSON_SCHEMA = dict(model_config.SCHEMA, **RUN_SCHEMA)
# What every model.json holds (version 1 held these only).
MODEL_JSON_REQUIRED = tuple(k for k, f in MODEL_JSON_SCHEMA.items() if f.required)


def saved_name(name):
    """A variable's name as a SavedModel export's attribute ("/" is not allowed there)."""
    return name.replace("/", "__")


def kind(path):
    """"run", "best_params", "hf" (a Hugging Face folder, an export --to hf among them),
    "saved_model" (an export --to saved_model) or "released" (the release or a folder
    with a manifest), naming what `path` lacks when it is none of them."""
    if os.path.isfile(path):
        return "best_params"
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, BEST)):
        return "run"
    if hf.is_hf_dir(path):
        return "hf"
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, SAVED_MODEL)):
        return "saved_model"
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError("%s is not a file or folder of weights" % path)
    return "released"


def read_model_json(path):
    """(config, the whole record) of a run's model.json, every key checked."""
    return model_config.read(path, RUN_SCHEMA, afn="gelu")


def export_record(folder):
    """(config, record) of the model.json an export wrote beside its weights: a run's whole
    record (it has "task"; read_model_json's checks) or the config alone; None where the
    folder has none (a Hugging Face folder from elsewhere)."""
    path = os.path.join(folder, MODEL_JSON)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            is_run = "task" in json.load(f)
    except (OSError, ValueError, TypeError):
        is_run = True  # damaged: the reading names the file and what is wrong
    return read_model_json(path) if is_run else model_config.read(path, afn="gelu")


def _default_heads(width):
    """The heads of weights that record none: GPT-1's 12, or one where 12 does not divide
    the width (a command's --n_head replaces it; folder_sizes reports None)."""
    return GPT1_HEADS if width % GPT1_HEADS == 0 else 1


def _model_json_beside(best):
    path = os.path.join(os.path.dirname(best) or ".", MODEL_JSON)
    return path if os.path.isfile(path) else None


def _released_config(params_dir, shapes, where):
    """The config of a folder in the released format from its shapes and records."""
    n_layer = n_layers_of(len(shapes), 2)
    if not n_layer or any(len(s) != 2 for s in shapes[:2]) or shapes[0][1] != shapes[1][1]:
        raise UserError("%s has %d arrays: expected positions, tokens and %d per layer"
                        % (where, len(shapes), N_BLOCK))
    (n_pos, width), (rows, _) = shapes[0], shapes[1]
    if hf.is_hf_dir(params_dir):
        config = hf.read_config(params_dir)  # checked against hf.CONFIG_SCHEMA
        given, record = {k: config[k] for k in ("n_head", "afn") if k in config}, \
            os.path.join(params_dir, hf.CONFIG)
    else:
        given, record = weights.manifest_model(params_dir), os.path.join(params_dir, release.MANIFEST)
    sizes = {"n_vocab": rows, "n_special": 0, "n_ctx": n_pos, "n_embd": width, "n_layer": n_layer}
    for key, value in sizes.items():  # what the record says must be what the arrays hold
        if key in given and key != "n_ctx" and given[key] != value:
            raise UserError("%s: %s is %s but %s holds %d" % (record, key, given[key], where, value))
    d = dict({"n_head": _default_heads(width), "afn": "gelu"}, **{k: v for k, v in given.items()
                                                       if k in ("n_head", "afn")})
    d.update(sizes)
    return ModelConfig.from_dict(d, record)


def _best_config(best, n_vocab):
    """The config of a best_params.jl: its model.json, else (older runs) its shapes."""
    path = _model_json_beside(best)
    if path is not None:
        return read_model_json(path)[0]
    arrays = _joblib(best)
    n_layer = n_layers_of(len(arrays), 3)
    if not n_layer or np.ndim(arrays[0]) != 2:
        raise UserError("%s: expected a list of 1 + %d x layers + 2 arrays (we, the layers, the "
                        "task head), as train.py writes" % (best, N_BLOCK))
    if n_vocab is None:
        raise UserError("%s has no %s beside it: the vocabulary's size is needed to read its "
                        "sizes" % (best, MODEL_JSON))
    rows, width = np.shape(arrays[0])
    if rows - n_vocab - 3 < 1:
        raise UserError("%s: model/we has %d rows; the vocabulary (%d) and 3 special rows need "
                        "more" % (best, rows, n_vocab))
    return ModelConfig(n_vocab=n_vocab, n_special=3, n_ctx=rows - n_vocab - 3, n_embd=width,
                       n_head=_default_heads(width), n_layer=n_layer)


def config_of(path, n_vocab=None):
    """The ModelConfig of the weights at `path` without reading their arrays (a
    best_params.jl without model.json is read whole)."""
    k = kind(path)
    if k == "run":
        return read_model_json(os.path.join(path, MODEL_JSON))[0]
    if k == "best_params":
        return _best_config(path, n_vocab)
    if k in ("hf", "saved_model"):
        record = _saved_model_record(path) if k == "saved_model" else export_record(path)
        if record is not None:
            return record[0]
    where = (os.path.join(path, hf.SAFETENSORS) if k == "hf"
             else os.path.join(path, release.SHAPES_FILE))
    return _released_config(path, weights.read_shapes(path), where)


def _saved_model_record(folder):
    record = export_record(folder)
    if record is None:
        raise UserError("%s is a SavedModel without %s: its sizes are not known here; load it "
                        "with tf.saved_model.load" % (folder, MODEL_JSON))
    return record


def _load_saved_model(folder):
    """(config, arrays) of an export --to saved_model: its model.json, the variables read
    from its checkpoint (TensorFlow's format: TensorFlow is imported here only)."""
    config = _saved_model_record(folder)[0]
    import tensorflow as tf
    path = os.path.join(folder, SAVED_MODEL_VARIABLES)
    try:
        reader = tf.train.load_checkpoint(path)
        arrays = [reader.get_tensor(SAVED_MODEL_KEY % saved_name(name))
                  for name, _ in shapes(config)]
    except (tf.errors.OpError, ValueError) as err:
        raise UserError("%s: the variables of the export cannot be read (%s); expected those "
                        "finetune_lm.export writes" % (path, str(err).splitlines()[0])) from None
    return config, check_arrays(arrays, config, path, os.path.join(folder, MODEL_JSON))


def _hf_head(folder, config, in_file):
    """[clf/w, clf/b] of an export's task head: multiple_choice_head.summary in
    model.safetensors (a multiple-choice head) or clf_head.safetensors beside it."""
    if config.head is None:
        return []
    if config.head == "choice":
        where, keys = os.path.join(folder, hf.SAFETENSORS), ("multiple_choice_head.summary.weight",
                                                             "multiple_choice_head.summary.bias")
        tensors = in_file
    else:
        where, keys = os.path.join(folder, hf.HEAD_FILE), ("weight", "bias")
        tensors = hf.read_tensors(where)
    missing = [k for k in keys if k not in tensors]
    if missing:
        raise UserError("%s has no %s: expected the %s head of %s"
                        % (where, " and no ".join(missing), config.head,
                           os.path.join(folder, MODEL_JSON)))
    w, b = (tensors[k] for k in keys)
    return [np.ascontiguousarray(np.transpose(w)), b]  # stored as transformers' [n, C]


def _load_hf(folder, extras=None):
    """(config, arrays) of a Hugging Face folder: with an export's model.json, every token
    row and the head; without, the vocabulary's rows (vocab.json) and no head."""
    read = weights.read_hf(folder)
    if extras is not None:
        extras.update(rows=int(read["n_added"]), head=sorted(read["head"]))
    positions, tokens = read["arrays"][:2]
    record = export_record(folder)
    if record is None:
        config = _released_config(folder, [list(a.shape) for a in read["arrays"]],
                                  os.path.join(folder, hf.SAFETENSORS))
        return config, [np.concatenate([tokens, positions], 0)] + read["arrays"][2:]
    config = record[0]
    we = np.concatenate([tokens, read["added_rows"], positions], 0)  # as the run held it
    arrays = [we] + read["arrays"][2:] + _hf_head(folder, config, read["head"])
    return config, check_arrays(arrays, config, os.path.join(folder, hf.SAFETENSORS),
                                os.path.join(folder, MODEL_JSON))


def _joblib(path, n_expected=None):
    import joblib
    try:
        arrays = joblib.load(path)
    except FileNotFoundError:
        raise UserError("missing %s" % path) from None
    except Exception as err:  # not a joblib (pickle) file, or a truncated one
        raise UserError("%s is not a readable joblib file (%s: %s); expected the list of "
                        "arrays that --submit saves" % (path, type(err).__name__, err)) from None
    if not isinstance(arrays, list):
        raise UserError("%s holds %s; expected a list of %s arrays"
                        % (path, type(arrays).__name__, n_expected or "the"))
    return arrays


def shapes(config):
    """[(name, shape)] of the arrays `load` returns for `config`."""
    out = list(param_shapes(config).items())
    if config.head is not None:
        c, n = config.n_embd, config.n_out
        out += [("model/clf/w", [c, n]), ("model/clf/b", [n])]
    return out


def check_arrays(arrays, config, where, record=None):
    """arrays (a list) must have the shapes config gives; float32 copies."""
    want = shapes(config)
    sizes = ("n_vocab %d + n_special %d + n_ctx %d rows, n_embd %d, n_layer %d"
             % (config.n_vocab, config.n_special, config.n_ctx, config.n_embd, config.n_layer)
             + (", n_out %d" % config.n_out if config.head else ""))
    by = "%s (%s)" % (record, sizes) if record else sizes
    if len(arrays) != len(want):
        raise UserError("%s holds %d arrays; %s expects a list of %d arrays"
                        % (where, len(arrays), by, len(want)))
    for i, ((name, shape), a) in enumerate(zip(want, arrays)):
        if list(np.shape(a)) != list(shape):
            raise UserError("%s: array %d (%s) has shape %s; %s expects %s: the sizes do not "
                            "fit the arrays" % (where, i, name, list(np.shape(a)), by, shape))
    return [np.asarray(a, np.float32) for a in arrays]


def load(path, n_vocab=None, verify=True, unverified=False, out=None,
         blob_ids=release.BLOB_IDS, extras=None):
    """(ModelConfig, arrays) of the weights at `path` (see the module's table). A folder in
    the released format is verified first (weights.verify_params_dir: the release's ids or
    its manifest.json; `unverified`: a warning line on `out`); verify False: not before
    reading, each shard then checked by weights.load_shards against `blob_ids` unless
    verified and unchanged since (None: no check, for stand-ins). n_vocab: the
    vocabulary's size, which the token rows must have (None: any). extras: a dict that,
    for a Hugging Face folder, gets what its model.safetensors holds beside the released
    format's arrays: "rows" (token rows after vocab.json's entries) and "head" (the keys
    of a task head in it)."""
    k = kind(path)
    if k in ("run", "best_params"):
        best = os.path.join(path, BEST) if k == "run" else path
        config = config_of(path, n_vocab)
        arrays = _joblib(best)
        record = _model_json_beside(best)
        if record is None:  # an older run: the transformer, not the head
            arrays = arrays[:n_transformer(config.n_layer)]
        return config, check_arrays(arrays, config, best, record)
    if verify and k == "released":
        weights.verify_params_dir(path, 0, unverified, out)
    if k == "hf":
        config, arrays = _load_hf(path, extras)
    elif k == "saved_model":
        config, arrays = _load_saved_model(path)
    else:
        config = config_of(path)
    if n_vocab is not None and config.n_vocab != n_vocab:
        raise UserError("%s: the tokens have %d rows; the vocabulary has %d entries: expected "
                        "the same" % (path, config.n_vocab, n_vocab))
    if k in ("hf", "saved_model"):
        return config, arrays
    shards = weights.load_shards(path, weights.read_shapes(path), blob_ids)
    we = np.concatenate([shards[1], shards[0]], 0)  # tokens, then positions
    return config, [we] + shards[2:]


# -- what the commands load through it -----------------------------------------------------

def special_rows(hp):
    """The 3 new embedding rows, from the global numpy generator (its first draw)."""
    return (np.random.randn(hp.n_special, hp.n_embd) * 0.02).astype(np.float32)


def transfer_arrays(params_dir, hp, n_transfer, blob_ids=release.BLOB_IDS):
    """The arrays to load into train.py's first variables, in variable order: we (the
    tokens, hp.n_special new rows, the first hp.n_ctx positions) and n_transfer blocks.

    Draws the special rows first, whatever n_transfer (the original always did).
    n_transfer -1 loads nothing and needs no shards. blob_ids None: no check (stand-ins).
    """
    specials = special_rows(hp)
    if n_transfer == -1:
        return []
    if hp.n_ctx > release.N_POSITIONS and n_transfer >= 0:
        raise UserError("--n_ctx %d is more than the %d positions of the released weights"
                        % (hp.n_ctx, release.N_POSITIONS))
    shapes = weights.read_shapes(params_dir)
    weights.check_shapes(shapes, hp, n_transfer, os.path.join(params_dir, release.SHAPES_FILE))
    config, arrays = load(params_dir, verify=False, blob_ids=blob_ids)
    # a fine-tuned export's own special rows are not transferred: new ones are drawn
    tokens = arrays[0][:config.n_vocab]
    positions = arrays[0][config.n_vocab + config.n_special:]
    we = np.concatenate([tokens, specials, positions[:hp.n_ctx]], 0)
    return [we] + arrays[1:1 + N_BLOCK * n_transfer]


def load_params(path, shapes):
    """A best_params.jl (ours or the original's): a list of arrays matching `shapes`
    ({name: shape})."""
    arrays = _joblib(path, len(shapes))
    if len(arrays) != len(shapes):
        raise UserError("%s holds %d arrays; expected a list of %d arrays"
                        % (path, len(arrays), len(shapes)))
    for i, ((name, shape), a) in enumerate(zip(shapes.items(), arrays)):
        if list(np.shape(a)) != list(shape):
            raise UserError("%s: array %d (%s) has shape %s, expected %s"
                            % (path, i, name, list(np.shape(a)), list(shape)))
    return arrays


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


def load_params_dir(params_dir, n_vocab, n_layer=None, n_embd=None, n_head=None, afn=None,
                    unverified=False, out=None):
    """(arrays, hp) of a folder in the released format (or a Hugging Face folder, or an
    export), through the loader: the release (checked against the upstream blob ids) or
    a model pre-trained here (checked against its manifest; unverified: a warning line
    on `out` instead). arrays: [we, the blocks] with we = tokens, the special rows
    (hp.n_special: none but in a fine-tuned model's export), positions; no task head."""
    config, arrays = load(params_dir, n_vocab=n_vocab, unverified=unverified, out=out)
    where = os.path.join(params_dir, hf.SAFETENSORS if hf.is_hf_dir(params_dir)
                         else release.SHAPES_FILE)
    hp = _lm_hparams(config, where, n_layer, n_embd, n_head, afn)
    return arrays[:n_transformer(config.n_layer)], hp


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


def folder_sizes(params_dir):
    """{n_layer, n_embd, n_ctx (positions), n_vocab (token rows), n_head, afn} of a folder
    in the released format or a Hugging Face folder (config_of); n_head and afn None
    where no record gives them (the release)."""
    config = config_of(params_dir)
    recorded = (hf.read_config(params_dir) if hf.is_hf_dir(params_dir)
                else weights.manifest_model(params_dir))
    sizes = {k: getattr(config, k) for k in ("n_layer", "n_embd", "n_ctx", "n_vocab")}
    sizes.update({k: getattr(config, k) if k in recorded else None for k in ("n_head", "afn")})
    return sizes


def check_init_from(init_from, n_embd, n_layer, n_ctx):
    """A folder to continue pre-training from (--init_from) has the flags' width and
    layers, and at least their positions."""
    sizes = folder_sizes(init_from)
    for flag, what in (("n_embd", "width"), ("n_layer", "layers")):
        given = {"n_embd": n_embd, "n_layer": n_layer}[flag]
        if sizes[flag] != given:
            raise UserError("--init_from %s has %d %s; --%s is %d: expected the same"
                            % (init_from, sizes[flag], what, flag, given))
    if sizes["n_ctx"] < n_ctx:
        raise UserError("--init_from %s has %d positions; --n_ctx %d needs as many"
                        % (init_from, sizes["n_ctx"], n_ctx))
