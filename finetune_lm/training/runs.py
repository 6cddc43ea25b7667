"""A fine-tuning run's folder (`save_dir/<desc>/`) as the commands after training read
it: `best_params.jl` and `model.json`, what train.py writes with --submit.

model.json names everything needed to use the parameters without the training command
line: the task, the model's sizes (n_ctx fixed by the data among them), the vocabulary
files (paths and SHA-256), the --n_ctx flag the inputs were cut with, the data folder,
the batch and towers of the run's evaluation. Version 1 (before these were recorded)
held the sizes and the task only; it is read too, the rest coming from flags or their
defaults. Nothing here imports TensorFlow.
"""

import os

import numpy as np

from finetune_lm.lm import loader
from finetune_lm.model import release
from finetune_lm.util.errors import UserError

MODEL_JSON = loader.MODEL_JSON
BEST = loader.BEST
SIZES = loader.MODEL_JSON_REQUIRED  # a version 1 model.json's keys


def read_run(run_dir):
    """(model.json as a dict, path of best_params.jl); an error naming what the folder
    lacks or the key of model.json that is damaged (lm/loader.py checks every key).
    The dict holds the record's keys, and "_config" (its ModelConfig), "_path", "_dir"."""
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
    config, info = loader.read_model_json(path)
    info = dict(info, _config=config, _path=path, _dir=run_dir)
    return info, best


def is_export_of_run(path):
    """A folder finetune_lm.export wrote from a run (its model.json the run's record)."""
    if not os.path.isdir(path) or loader.kind(path) not in ("hf", "saved_model"):
        return False
    record = loader.export_record(path)
    return record is not None and "task" in record[1]


def read_export(folder):
    """(the run's record as read_run's dict, the arrays) of a run's export, through the
    loader."""
    config, info = loader.export_record(folder)
    arrays = loader.load(folder)[1]
    return dict(info, _config=config, _path=os.path.join(folder, MODEL_JSON), _dir=folder), arrays


def export_vocab_dir(folder):
    """Where an export keeps its vocabulary files: the folder (--to hf: vocab.json,
    merges.txt) or its assets/ (--to saved_model)."""
    return os.path.join(folder, "assets") if loader.kind(folder) == "saved_model" else folder


def config(info):
    """The run's ModelConfig (model.json version 1 lacks soft_targets: the task's). info:
    read_run's dict, or model.json's keys alone (checked here then)."""
    from finetune_lm.model.config import ModelConfig
    c = info.get("_config") or ModelConfig.from_dict(info, info.get("_path", MODEL_JSON))
    if "soft_targets" in info:
        return c
    from finetune_lm.tasks import task_for_run
    return c.replace(soft_targets=task_for_run(info).soft_targets)


def param_shapes(info):
    """[(name, shape)] of best_params.jl's arrays from model.json's sizes."""
    return loader.shapes(config(info))


def load_arrays(info, best):
    """best_params.jl's arrays, checked against model.json's sizes (through the loader)."""
    return loader.load(best)[1]


def hparams(info, **changes):
    """HParams of the run for evaluation: its ModelConfig (dropout off) and the batch,
    towers, XLA and type it recorded (`changes` override them)."""
    from finetune_lm.model.hparams import ExecSettings, HParams
    exe = ExecSettings(n_batch=info.get("n_batch", 8), n_gpu=info.get("n_gpu", 4),
                       xla=info.get("xla", True),
                       compute_dtype=info.get("compute_dtype", "float32"))
    hp = HParams.of(config(info), exe=exe,
                    clf_token=info.get("clf_token", info["n_vocab"] + 2))
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
