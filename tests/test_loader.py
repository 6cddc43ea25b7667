"""The model described once (model/config.py), the one loader (lm/loader.py) on every
format the project takes, and damaged records: every key of each record's schema
damaged in turn is one error naming the file and the key."""

import dataclasses
import json
import os

import joblib
import numpy as np
import pytest

from helpers import error_line, fake_run, hf_folder, make_params
from finetune_lm.lm import hf, loader
from finetune_lm.model import release
from finetune_lm.model import variables
from finetune_lm.model.config import AFNS, HEAD_KINDS, SCHEMA, ModelConfig
from finetune_lm.model.hparams import ExecSettings, HParams, OptSettings
from finetune_lm.training import analysis, checkpoint
from finetune_lm.util import records
from finetune_lm.util.errors import UserError

MISSING = object()


# -- the config ----------------------------------------------------------------------------

def test_config_round_trip():
    c = ModelConfig(n_vocab=10, n_special=3, n_ctx=7, n_embd=8, n_head=2, n_layer=3, afn="relu",
                    head="linear", n_seq=1, n_out=3, soft_targets=True, label_names=("a", "b", "c"))
    d = c.to_dict()
    assert json.loads(json.dumps(d)) == d and d["label_names"] == ["a", "b", "c"]
    assert ModelConfig.from_dict(json.loads(json.dumps(d)), "x") == c
    assert set(d) == set(SCHEMA)
    assert c.n_we == 20 and c.clf_token == 12


def test_hparams_are_the_three_parts_composed():
    hp = HParams(n_embd=16, n_head=2, lr=1e-3, embd_pdrop=0.2, n_gpu=2, xla=True, head="choice",
                 n_seq=2)
    assert HParams.of(hp.model, hp.opt, hp.exe, clf_token=hp.clf_token) == hp
    names = [{f.name for f in dataclasses.fields(c)} for c in (ModelConfig, OptSettings, ExecSettings)]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert set.union(*names) | {"clf_token"} == {f.name for f in dataclasses.fields(HParams)}
    lm = HParams.of(ModelConfig(n_special=0))  # inference: the model alone, no dropout
    assert (lm.embd_pdrop, lm.attn_pdrop, lm.resid_pdrop, lm.clf_pdrop) == (0, 0, 0, 0)


def test_config_names_what_the_graph_knows():
    from finetune_lm.model.heads import HEADS
    from finetune_lm.model.ops import ACT_FNS
    assert set(HEAD_KINDS) == set(HEADS) and set(AFNS) == set(ACT_FNS)


def test_one_place_names_a_block():
    assert variables.N_BLOCK == len(variables.BLOCK_PARAMS) == len(hf.BLOCK_KEYS) == 12
    assert [n for n, _ in hf.BLOCK_KEYS] == list(variables.BLOCK_PARAMS)
    shapes = variables.param_shapes(ModelConfig(n_ctx=4, n_embd=8, n_head=2, n_layer=1))
    assert list(shapes.values())[1:] == variables.block_shapes(8)


# -- the loader on every format ------------------------------------------------------------

TINY = ModelConfig(n_vocab=release.N_VOCAB, n_special=0, n_ctx=16, n_embd=16, n_head=2,
                   n_layer=2)


def written_folder(tmp_path, gpt1_dir):
    from finetune_lm.lm.folder import write_params_dir
    arrays = list(make_params(variables.param_shapes(TINY)).values())
    out = write_params_dir(str(tmp_path / "lm"), arrays, HParams.of(TINY),
                           os.path.join(gpt1_dir, release.ENCODER_FILE),
                           os.path.join(gpt1_dir, release.BPE_FILE))
    return out, arrays


def same(a, b):
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_load_a_folder_with_a_manifest(tmp_path, gpt1_dir):
    """Pre-training's output: its manifest's "model" is the config."""
    out, arrays = written_folder(tmp_path, gpt1_dir)
    with open(os.path.join(out, release.MANIFEST)) as f:
        assert json.load(f)["model"] == TINY.to_dict()
    config, got = loader.load(out, n_vocab=release.N_VOCAB)
    assert config == TINY and loader.config_of(out) == TINY
    same(got, arrays)


def test_load_the_release_layout_without_records(tmp_path, gpt1_dir):
    out, arrays = written_folder(tmp_path, gpt1_dir)
    os.remove(os.path.join(out, release.MANIFEST))
    config, got = loader.load(out, verify=False, blob_ids=None)
    assert config == TINY.replace(n_head=1)  # 12 heads do not divide 16: the release says none
    same(got, arrays)
    with pytest.raises(UserError) as err:  # verified: not the release's ids
        loader.load(out)
    assert "git blob id" in str(err.value)


def test_load_a_hugging_face_folder(tmp_path, gpt1_dir):
    folder, released = hf_folder(tmp_path / "hf")
    config, got = loader.load(folder)
    assert config == ModelConfig(n_vocab=release.N_VOCAB, n_special=0, n_ctx=24, n_embd=16,
                                 n_head=2, n_layer=2)
    same(got, [np.concatenate([released[1], released[0]], 0)] + released[2:])


def test_load_a_run_folder_and_its_best_params(tmp_path, gpt1_dir):
    run, arrays, info = fake_run(tmp_path / "run", "rocstories", n_ctx=20, n_embd=16, n_head=2)
    for path in (run, os.path.join(run, loader.BEST)):
        config, got = loader.load(path)
        assert config.to_dict() == {k: info[k] for k in SCHEMA}
        assert config.head == "choice" and config.n_seq == 2
        same(got, arrays)


def test_load_an_older_best_params_without_model_json(tmp_path, gpt1_dir):
    run, arrays, info = fake_run(tmp_path / "run", "rocstories", n_ctx=20, n_embd=16, n_head=2)
    os.remove(os.path.join(run, loader.MODEL_JSON))
    config, got = loader.load(os.path.join(run, loader.BEST), n_vocab=release.N_VOCAB)
    assert (config.n_ctx, config.n_embd, config.n_layer, config.head) == (20, 16, 1, None)
    same(got, arrays[:variables.n_transformer(1)])  # the transformer: the head is not known


# -- damaged records, generated from each record's schema ----------------------------------

def bad_values(field):
    """Values `field` refuses (MISSING: the key removed)."""
    out = [] if field.nullable else [None]
    if field.required:
        out.append(MISSING)
    if field.types == (int,):
        out += ["twelve", 1.5, True]
        if field.test and not field.test(-1):
            out.append(-1)
        if field.test and not field.test(0):
            out.append(0)
    elif field.types == (int, float):
        out += ["x", [1]]
    elif field.types == (bool,):
        out += ["yes", 1]
    elif field.types == (str,):
        out += [123]
        if field.choices:
            out.append("nothing-known")
        elif field.test:
            out.append("")
    elif field.types == (dict,):
        out += [[], "x"]
    elif field.types == (list,):
        out += ["a", {"a": 1}] + ([[1]] if field.test else [])
    assert out, field
    return out


def damaged(record, schema):
    """(id, key, the record with that key damaged) for every key and every bad value."""
    for key, field in schema.items():
        for i, value in enumerate(bad_values(field)):
            bad = dict(record)
            if value is MISSING:
                bad.pop(key, None)
            else:
                bad[key] = value
            yield "%s-%d" % (key, i), key, bad


def write(path, record):
    with open(path, "w") as f:
        json.dump(record, f) if not isinstance(record, str) else f.write(record)


def whole_record_damages(record):
    text = json.dumps(record)
    return [("empty", {}), ("list", [record]), ("null", None), ("truncated", text[:len(text) // 2])]


def check_message(msg, path, key=None):
    assert path in msg, msg
    if key is not None:
        assert repr(key) in msg, msg
    assert "expected" in msg, msg


def model_json(task="rocstories"):
    return {"n_ctx": 20, "n_vocab": 40478, "n_special": 3, "n_embd": 16, "n_head": 2,
            "n_layer": 1, "head": "choice", "n_seq": 2, "n_out": 1, "task": task, "task_spec": None,
            "version": 2,
            "afn": "gelu", "clf_token": 40480, "soft_targets": False, "n_ctx_flag": 512,
            "n_batch": 2, "n_gpu": 2, "xla": False, "compute_dtype": "float32",
            "label_names": None, "data_dir": None, "encoder_path": "e", "bpe_path": "b",
            "vocab_sha256": None}


MODEL_JSON_DAMAGES = list(damaged(model_json(), loader.MODEL_JSON_SCHEMA))


def test_the_schema_covers_what_train_writes():
    """model_info's keys (a run's model.json) are the schema's."""
    from finetune_lm.tasks import get_task
    from finetune_lm.training.finetuning import model_info
    hp = HParams(n_ctx=20, head="choice", n_seq=2)
    info = model_info(get_task("rocstories"), hp, {"n_ctx": 512, "data_dir": None})
    assert set(info) == set(model_json()) - {"encoder_path", "bpe_path", "vocab_sha256"}
    assert set(model_json()) == set(loader.MODEL_JSON_SCHEMA)
    records.check(model_json(), loader.MODEL_JSON_SCHEMA, "x")  # the base record is valid


@pytest.mark.parametrize("case, key, bad", MODEL_JSON_DAMAGES, ids=[c for c, _, _ in MODEL_JSON_DAMAGES])
def test_damaged_model_json(tmp_path, case, key, bad):
    path = str(tmp_path / "model.json")
    write(path, bad)
    joblib.dump([np.zeros(1)], str(tmp_path / "best_params.jl"))
    with pytest.raises(UserError) as err:
        loader.load(str(tmp_path))
    check_message(str(err.value), path, key)


def test_damaged_model_json_through_the_command(tmp_path, capsys):
    """export --run (no TensorFlow): one `error:` line naming the file and key, exit 2,
    for one damage of every key."""
    from finetune_lm.export import main
    seen = set()
    for case, key, bad in MODEL_JSON_DAMAGES:
        if key in seen:
            continue
        seen.add(key)
        run = tmp_path / case
        run.mkdir()
        write(str(run / "model.json"), bad)
        joblib.dump([np.zeros(1)], str(run / "best_params.jl"))
        line = error_line(capsys, main, ["--run", run, "--to", "hf", tmp_path / "out"])
        check_message(line, str(run / "model.json"), key)
    assert seen == set(loader.MODEL_JSON_SCHEMA)


@pytest.mark.parametrize("case", ["empty", "list", "null", "truncated"])
def test_model_json_damaged_whole(tmp_path, case):
    bad = dict(whole_record_damages(model_json()))[case]
    path = str(tmp_path / "model.json")
    write(path, bad)
    joblib.dump([np.zeros(1)], str(tmp_path / "best_params.jl"))
    with pytest.raises(UserError) as err:
        loader.load(str(tmp_path))
    check_message(str(err.value), path)


def hf_config():
    return {"model_type": "openai-gpt", "n_embd": 16, "n_layer": 2, "n_head": 2,
            "n_positions": 24, "vocab_size": 40478, "afn": "gelu", "finetune_lm": {}}


HF_DAMAGES = list(damaged(hf_config(), hf.CONFIG_SCHEMA))


@pytest.mark.parametrize("case, key, bad", HF_DAMAGES, ids=[c for c, _, _ in HF_DAMAGES])
def test_damaged_hf_config(tmp_path, case, key, bad):
    folder, _ = hf_folder(tmp_path / "hf", tokenizer=False)
    path = os.path.join(folder, hf.CONFIG)
    write(path, bad)
    with pytest.raises(UserError) as err:
        loader.load(folder)
    check_message(str(err.value), path, key)


def test_hf_config_damaged_through_train(tmp_path, capsys, gpt1_dir, rocstories_dir):
    """train.py --params_dir with `"n_layer": "twelve"` in config.json: one error line,
    before any slow work; so for a config.json emptied to a list or truncated."""
    import train
    folder, _ = hf_folder(tmp_path / "hf")
    path = os.path.join(folder, hf.CONFIG)
    args = ["--dataset", "rocstories", "--data_dir", rocstories_dir, "--params_dir", folder,
            "--log_dir", tmp_path / "log", "--save_dir", tmp_path / "save"]
    for bad, key in [(dict(hf_config(), n_layer="twelve"), "n_layer"),
                     (dict(hf_config(), afn="tanh"), "afn"), ([1], None),
                     (json.dumps(hf_config())[:20], None)]:
        write(path, bad)
        line = error_line(capsys, train.main, args, allow=lambda l: l.startswith("note: "))
        check_message(line, path, key)


def pointer():
    return {"prefix": "ckpt-3", "n_updates": 3, "epoch": 0, "batch": 3, "best": 50.0,
            "args": {"seed": 42}, "data": {"train": "k"}, "finished": False}


POINTER_DAMAGES = (list(damaged(pointer(), checkpoint.POINTER_SCHEMA))
                   + [(c, None, b) for c, b in whole_record_damages(pointer())])


@pytest.mark.parametrize("case, key, bad", POINTER_DAMAGES, ids=[c for c, _, _ in POINTER_DAMAGES])
def test_damaged_checkpoint_record(tmp_path, case, key, bad):
    path = str(tmp_path / checkpoint.POINTER)
    write(path, bad)
    with pytest.raises(UserError) as err:
        checkpoint.Resume(str(tmp_path), {"seed": 42}).pointer()
    check_message(str(err.value), path, key)
    assert "delete %s to start over" % tmp_path in str(err.value)


def test_damaged_checkpoint_record_through_train(tmp_path, capsys, gpt1_dir, rocstories_dir):
    import train
    ckpt = tmp_path / "save" / "tiny" / "checkpoint"
    ckpt.mkdir(parents=True)
    args = ["--dataset", "rocstories", "--data_dir", rocstories_dir, "--params_dir", gpt1_dir,
            "--n_transfer", "-1", "--n_layer", "1", "--n_embd", "8", "--n_head", "2",
            "--desc", "tiny", "--log_dir", tmp_path / "log", "--save_dir", tmp_path / "save"]
    for bad, key in [({}, "prefix"), ([], None), (dict(pointer(), n_updates="3"), "n_updates")]:
        write(str(ckpt / checkpoint.POINTER), bad)
        line = error_line(capsys, train.main, args)
        check_message(line, str(ckpt / checkpoint.POINTER), key)


RESULTS = {"splits": {"valid": {"accuracy": 50.0}}, "figures": {"valid_accuracy": 50.0}}
RESULTS_DAMAGES = (list(damaged(RESULTS, analysis.RESULTS_SCHEMA))
                   + [(c, None, b) for c, b in whole_record_damages(RESULTS)])


@pytest.mark.parametrize("case, key, bad", RESULTS_DAMAGES, ids=[c for c, _, _ in RESULTS_DAMAGES])
def test_damaged_results_json(tmp_path, case, key, bad, capsys):
    from finetune_lm.tasks import get_task
    task = get_task("rocstories")
    subs = {s.split: str(tmp_path / s.filename) for s in task.submissions}
    for p in subs.values():
        open(p, "w").close()
    paths = {"results": str(tmp_path / "results.json"), "submissions": subs,
             "checkpoint": str(tmp_path / "checkpoint")}
    write(paths["results"], bad)
    with pytest.raises(UserError) as err:
        analysis.finished(task, "tiny", paths, pointer(), True, False)
    check_message(str(err.value), paths["results"], key)


def test_no_literal_arrays_per_layer_outside_variables():
    """`12 * layers`, `% 12`, `// 12`: the arrays per layer are variables.N_BLOCK."""
    import ast
    root = os.path.dirname(variables.__file__.replace(os.sep + "model", ""))
    found = []
    for folder, _, files in os.walk(os.path.join(root, "finetune_lm")):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Mod,
                                                                          ast.FloorDiv)):
                    if any(isinstance(x, ast.Constant) and x.value == 12
                           for x in (node.left, node.right)):
                        found.append("%s:%d" % (path, node.lineno))
    assert found == []
