"""A fine-tuning run's folder (`save_dir/<desc>/`) as the commands after training read
it: `best_params.jl` and `model.json`, what train.py writes with --submit.

model.json names everything needed to use the parameters without the training command
line: the task, the model's sizes (n_ctx fixed by the data among them), the vocabulary
files (paths and SHA-256), the --n_ctx flag the inputs were cut with, the data folder,
the batch and towers of the run's evaluation. Version 1 (before these were recorded)
held the sizes and the task only; it is read too, the rest coming from flags or their
defaults. Nothing here imports TensorFlow.
"""

import json
import os

import numpy as np

from finetune_lm.model import release
from finetune_lm.util.errors import UserError

MODEL_JSON = "model.json"
BEST = "best_params.jl"
BLOCK_SHAPES = lambda c: ([1, c, 3 * c], [3 * c], [1, c, c], [c], [c], [c],  # noqa: E731
                          [1, c, 4 * c], [4 * c], [1, 4 * c, c], [c], [c], [c])
SIZES = ("n_ctx", "n_vocab", "n_special", "n_embd", "n_head", "n_layer", "head", "n_seq",
         "n_out", "task")


def read_run(run_dir):
    """(model.json as a dict, path of best_params.jl); an error naming what the folder
    lacks."""
    if not os.path.isdir(run_dir):
        raise UserError("--run %s is not a folder: expected a run's folder, save_dir/<desc>/, "
                        "holding %s and %s (train.py --submit writes them)"
                        % (run_dir, BEST, MODEL_JSON))
    best, path = os.path.join(run_dir, BEST), os.path.join(run_dir, MODEL_JSON)
    missing = [n for n, p in ((BEST, best), (MODEL_JSON, path)) if not os.path.isfile(p)]
    if missing:
        raise UserError("%s has no %s: expected a run's folder holding %s and %s (train.py "
                        "--submit writes them)" % (run_dir, " and no ".join(missing), BEST,
                                                    MODEL_JSON))
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError) as err:
        raise UserError("%s cannot be read as JSON (%s)" % (path, " ".join(str(err).split()))) \
            from None
    if not isinstance(info, dict):
        raise UserError("%s: expected a JSON object of the run's sizes" % path)
    lacking = [k for k in SIZES if k not in info]
    if lacking:
        raise UserError("%s lacks %s: expected the sizes train.py records (%s)"
                        % (path, ", ".join(lacking), ", ".join(SIZES)))
    for k in SIZES:
        if k not in ("head", "task") and not (type(info[k]) is int and info[k] >= 0):
            raise UserError("%s: %s is %s; expected a non-negative integer"
                            % (path, k, json.dumps(info[k])))
    if info["n_layer"] < 1 or info["n_head"] < 1 or info["n_embd"] % info["n_head"]:
        raise UserError("%s: n_embd %d, n_head %d, n_layer %d do not make a model"
                        % (path, info["n_embd"], info["n_head"], info["n_layer"]))
    info["_path"] = path
    info["_dir"] = run_dir
    return info, best


def param_shapes(info):
    """[(name, shape)] of best_params.jl's arrays from model.json's sizes (model.param_shapes,
    without TensorFlow)."""
    c = info["n_embd"]
    shapes = [("model/we", [info["n_vocab"] + info["n_special"] + info["n_ctx"], c])]
    from finetune_lm.lm.hf import BLOCK_KEYS
    for layer in range(info["n_layer"]):
        shapes += [("model/h%d/%s" % (layer, name), shape)
                   for (name, _), shape in zip(BLOCK_KEYS, BLOCK_SHAPES(c))]
    shapes += [("model/clf/w", [c, info["n_out"]]), ("model/clf/b", [info["n_out"]])]
    return shapes


def load_arrays(info, best):
    """best_params.jl's arrays, checked against model.json's sizes."""
    import joblib
    try:
        arrays = joblib.load(best)
    except Exception as err:  # not a joblib (pickle) file, or a truncated one
        raise UserError("%s is not a readable joblib file (%s: %s); expected the list of "
                        "arrays that --submit saves" % (best, type(err).__name__, err)) from None
    shapes = param_shapes(info)
    sizes = ("n_vocab %d + n_special %d + n_ctx %d rows, n_embd %d, n_layer %d, n_out %d"
             % (info["n_vocab"], info["n_special"], info["n_ctx"], info["n_embd"],
                info["n_layer"], info["n_out"]))
    if not isinstance(arrays, list) or len(arrays) != len(shapes):
        raise UserError("%s holds %s; %s (%s) expects a list of %d arrays"
                        % (best, "%d arrays" % len(arrays) if isinstance(arrays, list)
                           else type(arrays).__name__, info["_path"], sizes, len(shapes)))
    for i, ((name, shape), a) in enumerate(zip(shapes, arrays)):
        if list(np.shape(a)) != shape:
            raise UserError("%s: array %d (%s) has shape %s; %s (%s) expects %s: the sizes "
                            "do not fit the arrays" % (best, i, name, list(np.shape(a)),
                                                        info["_path"], sizes, shape))
    return [np.asarray(a, np.float32) for a in arrays]


def hparams(info, **changes):
    """HParams of the run for evaluation (dropout off)."""
    from finetune_lm.model.hparams import HParams
    from finetune_lm.tasks import task_for_run
    task = task_for_run(info)
    hp = HParams(n_vocab=info["n_vocab"], n_special=info["n_special"], n_ctx=info["n_ctx"],
                 n_embd=info["n_embd"], n_head=info["n_head"], n_layer=info["n_layer"],
                 embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0, clf_pdrop=0.0,
                 afn=info.get("afn", "gelu"),
                 clf_token=info.get("clf_token", info["n_vocab"] + 2), head=info["head"],
                 n_seq=info["n_seq"], n_out=info["n_out"],
                 soft_targets=info.get("soft_targets", task.soft_targets),
                 n_batch=info.get("n_batch", 8), n_gpu=info.get("n_gpu", 4),
                 xla=info.get("xla", True), compute_dtype=info.get("compute_dtype", "float32"))
    return hp.replace(**changes) if changes else hp


def vocabulary(info, params_dir="params/", encoder_path=None, bpe_path=None):
    """(encoder path, BPE path) of the run: the flags, else the files the run recorded,
    else <params_dir>/...; each checked against the SHA-256 the run recorded."""
    from finetune_lm.data.text import vocabulary_sha256
    from finetune_lm.lm.hf import vocab_path
    out = []
    recorded = info.get("vocab_sha256") or {}
    for flag, given, key, name in (("--encoder_path", encoder_path, "encoder", release.ENCODER_FILE),
                                   ("--bpe_path", bpe_path, "bpe", release.BPE_FILE)):
        path = given
        if path is None:
            saved = info.get("%s_path" % key)
            path = saved if saved and os.path.isfile(saved) else vocab_path(params_dir, name)
        if not os.path.isfile(path):
            raise UserError("the vocabulary file %s is not there: pass %s or --params_dir (the "
                            "folder of %s, `%s --files %s %s`)"
                            % (path, flag, name, release.DOWNLOAD_COMMAND, release.ENCODER_FILE,
                               release.BPE_FILE))
        want = recorded.get(key)
        if want and vocabulary_sha256(path) != want:
            raise UserError("%s is not the vocabulary the run was trained with (%s records "
                            "sha256 %s); pass %s with that file" % (path, info["_path"], want, flag))
        out.append(path)
    return tuple(out)


def data_dir(info, task, given=None):
    """The task's data folder: the flag, else the run's, else datasets/<folder>."""
    if given:
        return given
    saved = info.get("data_dir")
    if saved and os.path.isdir(saved):
        return saved
    return os.path.join("datasets", task.folder)


def softmax(logits):
    x = np.asarray(logits, np.float64)
    x = x - np.max(x, axis=-1, keepdims=True)
    p = np.exp(x)
    return p / np.sum(p, axis=-1, keepdims=True)


def class_names(task, info):
    """One name per logit column: the label names, else the class or option index."""
    n = info["n_seq"] if info["head"] == "choice" else info["n_out"]
    names = task.label_names
    if names and len(names) == n:
        return [str(x) for x in names]
    return [str(i) for i in range(n)]
