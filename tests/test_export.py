"""finetune_lm.export: a run (made-up tiny runs of the three heads) or pre-trained weights to
Hugging Face's layout and to a SavedModel. Checked: the files and their layout; from-hf
of the export gives back the same arrays bit for bit; the SavedModel, loaded in a
process that cannot import finetune_lm, gives predict's logits within 1e-5; transformers
(when torch and transformers are installed) gives them within 1e-4."""

import json
import os
import site
import subprocess
import sys

import numpy as np
import pytest

from finetune_lm import convert, export, predict
from finetune_lm.lm import loader, weights
from finetune_lm.training import runs
from finetune_lm.training.model import Model
from finetune_lm.util.errors import UserError
from finetune_lm.tasks import get_task
from finetune_lm.tasks.base import Split
from helpers import fake_run, hf_folder, same_arrays

EXAMPLES = {
    "rte": {"sentence1": ["A man is playing a guitar on stage.", "The cat sleeps."],
            "sentence2": ["A man plays music.", "A dog barks loudly at the mailman."]},
    "rocstories": {"story": ["Tom was hungry. He went to the kitchen.", "It rained all day."],
                   "ending1": ["He made a sandwich.", "We stayed inside."],
                   "ending2": ["He flew to the moon.", "The sun burned us."]},
    "mrpc": {"sentence1": ["The market fell today.", "He left early."],
             "sentence2": ["Stocks dropped today.", "She arrived late in the evening."]},
}


def predicted(run_dir, task_name):
    """(inputs.Encoded, predict's logits) of the task's two examples."""
    info, best = runs.read_run(run_dir)
    task = get_task(task_name)
    split = Split(texts=EXAMPLES[task_name], labels=None, index=[0, 1])
    enc, _ = predict.encode(task, split, info, info["encoder_path"], info["bpe_path"])
    return enc, info, predict.predict_logits(info, runs.load_arrays(info, best), enc)


def safetensors_of(path):
    from safetensors import safe_open
    with safe_open(path, framework="numpy") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


@pytest.mark.parametrize("task_name", ["rocstories", "rte", "mrpc"])
def test_hf_export_layout_and_round_trip(tmp_path, task_name, capsys):
    run, arrays, info = fake_run(tmp_path / "run", task_name, n_ctx=40)
    out = str(tmp_path / "hf")
    assert export.main(["--run", run, "--to", "hf", out]) == 0
    tensors, meta = safetensors_of(os.path.join(out, "model.safetensors"))
    assert meta == {"format": "pt"}
    assert all(k.startswith("transformer.") or k.startswith("multiple_choice_head.")
               for k in tensors)
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["vocab_size"] == 40481 and config["n_positions"] == 40
    assert config["afn"] == "gelu" and config["summary_type"] == "cls_index"
    assert tensors["transformer.tokens_embed.weight"].shape == (40481, 32)
    w, b = arrays[-2], arrays[-1]
    if task_name != "rocstories":  # linear, pair_sum: the head beside the transformer
        assert config["architectures"] == ["OpenAIGPTLMHeadModel"]
        head, _ = safetensors_of(os.path.join(out, "clf_head.safetensors"))
        assert np.array_equal(head["weight"], w.T) and np.array_equal(head["bias"], b)
        assert ("h = h_AB[clf_AB] + h_BA[clf_BA]" if task_name == "mrpc" else
                "h = hidden_states[clf]") in open(os.path.join(out, "README.md")).read()
    else:
        assert config["architectures"] == ["OpenAIGPTDoubleHeadsModel"]
        assert np.array_equal(tensors["multiple_choice_head.summary.weight"], w.T)
        assert np.array_equal(tensors["multiple_choice_head.summary.bias"], b)
    readme = open(os.path.join(out, "README.md")).read()
    assert "lower-cases the text before spaCy" in readme and "position rows" in readme
    added = json.load(open(os.path.join(out, "added_tokens.json")))
    assert added == {"_start_": 40478, "_delimiter_": 40479, "_classify_": 40480}
    tok = json.load(open(os.path.join(out, "tokenizer_config.json")))
    assert tok["added_tokens_decoder"]["40480"]["content"] == "_classify_"
    # from-hf of the export: the run's transformer, bit for bit.
    params = str(tmp_path / "params")
    assert convert.main(["from-hf", out, "--out", params]) == 0
    shapes = json.load(open(os.path.join(params, "params_shapes.json")))
    got = weights.load_shards(params, shapes)  # verified against its manifest
    we = arrays[0]
    want = [we[40481:], we[:40478]] + arrays[1:13]
    assert len(got) == len(want) and all(np.array_equal(g, x) for g, x in zip(got, want))
    # ... and of a pre-trained folder's export: the same files, byte for byte.
    out2 = str(tmp_path / "hf2")
    assert export.main(["--params_dir", params, "--to", "hf", out2]) == 0
    assert json.load(open(os.path.join(out2, "config.json")))["vocab_size"] == 40478
    params2 = str(tmp_path / "params2")
    assert convert.main(["from-hf", out2, "--out", params2]) == 0
    for name in ["params_shapes.json"] + ["params_%d.npy" % i for i in range(10)]:
        assert open(os.path.join(params, name), "rb").read() == open(
            os.path.join(params2, name), "rb").read(), name


# -- an export read back through the loader and the model object ----------------------------

@pytest.mark.parametrize("task_name", ["rocstories", "rte", "mrpc"])
def test_a_runs_hf_export_loads_back_as_the_run(tmp_path, task_name):
    """The three special rows and the head (multiple_choice_head.*, clf_head.safetensors)
    come back: the arrays of best_params.jl bit for bit, and the same classifier."""
    run, arrays, info = fake_run(tmp_path / "run", task_name, n_ctx=16, n_embd=8, n_head=2)
    out = str(tmp_path / "hf")
    assert export.main(["--run", run, "--to", "hf", out]) == 0
    record = json.load(open(os.path.join(out, "model.json")))
    assert record["task"] == task_name and record["head"] == info["head"]
    assert record["encoder_path"] is None and record["vocab_sha256"] == info["vocab_sha256"]
    config, got = loader.load(out)
    assert config == loader.config_of(out) == loader.config_of(run)
    assert config.n_special == 3 and config.head == info["head"]
    same_arrays(got, arrays)
    model = Model.load(out)
    assert model.info["task"] == task_name and model.hp == Model.load(run).hp
    assert model.vocabulary == (os.path.join(out, "vocab.json"), os.path.join(out, "merges.txt"))
    enc, _, want = predicted(run, task_name)
    assert np.array_equal(model.classify(enc), want)  # the same path: bit for bit


def test_a_runs_saved_model_loads_back(tmp_path):
    run, arrays, info = fake_run(tmp_path / "run", "rte", n_ctx=16, n_embd=8, n_head=2)
    out = str(tmp_path / "sm")
    assert export.main(["--run", run, "--to", "saved_model", out]) == 0
    config, got = loader.load(out)
    assert config == loader.config_of(run)
    same_arrays(got, arrays)
    model = Model.load(out)
    assert model.info["task"] == "rte" and model.hp == Model.load(run).hp
    assert model.vocabulary == tuple(os.path.join(out, "assets", n) for n in (
        "encoder_bpe_40000.json", "vocab_40000.bpe"))


def test_language_model_exports_load_back(tmp_path):
    src, _ = hf_folder(tmp_path / "src")
    config, arrays = loader.load(src)
    for to in ("hf", "saved_model"):
        out = str(tmp_path / to)
        assert export.main(["--params_dir", src, "--to", to, out]) == 0
        assert json.load(open(os.path.join(out, "model.json"))) == config.to_dict()
        got_config, got = loader.load(out)
        assert got_config == config
        same_arrays(got, arrays)
    model = Model.load(str(tmp_path / "hf"))
    assert model.info is None and model.hp == Model.load(src).hp
    same_arrays(model.arrays, arrays)


def test_a_saved_model_without_model_json_is_named(tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"")
    with pytest.raises(UserError) as err:
        loader.load(str(folder))
    assert str(err.value) == ("%s is a SavedModel without model.json: its sizes are not known "
                              "here; load it with tf.saved_model.load" % folder)


LOAD = r"""
import importlib.util, json, sys
sys.path[:0] = %(site)r
assert importlib.util.find_spec("finetune_lm") is None, "finetune_lm is importable"
import numpy as np, tensorflow as tf
m = tf.saved_model.load(%(model)r)
f = m.signatures["serving_default"]
z = np.load(%(inputs)r)
out = f(tokens=tf.constant(z["tokens"]), mask=tf.constant(z["mask"]))
np.save(%(logits)r, out["logits"].numpy())
assert np.allclose(out["probabilities"].numpy().sum(-1), 1, atol=1e-5)
print(json.dumps({"keys": sorted(out)}))
"""


@pytest.mark.slow  # a subprocess
@pytest.mark.parametrize("task_name", ["rocstories", "rte", "mrpc"])
def test_saved_model_loads_without_the_package(tmp_path, task_name):
    run, arrays, info = fake_run(tmp_path / "run", task_name, n_ctx=40)
    out = str(tmp_path / "sm")
    assert export.main(["--run", run, "--to", "saved_model", out]) == 0
    assert sorted(os.listdir(os.path.join(out, "assets"))) == [
        "encoder_bpe_40000.json", "labels.json", "vocab_40000.bpe"]
    labels = json.load(open(os.path.join(out, "assets", "labels.json")))
    assert labels["task"] == task_name and labels["labels"] == runs.class_names(
        get_task(task_name), info)
    enc, info, want = predicted(run, task_name)
    X, M, _ = enc.batch(np.arange(len(enc)), info["n_ctx"], 40481)
    T = int(M.sum(-1).max())  # shorter than n_ctx: the SavedModel pads inside
    np.savez(str(tmp_path / "in.npz"), tokens=X[:, :, :T, 0], mask=M[:, :, :T])
    clean = tmp_path / "clean"
    clean.mkdir()
    code = LOAD % {"site": site.getsitepackages(), "model": out, "inputs": str(tmp_path / "in.npz"),
                   "logits": str(tmp_path / "logits.npy")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    # -I: no PYTHONPATH, no cwd, no user site; -S: no .pth files (the editable install).
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code], cwd=str(clean), env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1])["keys"] == ["logits", "probabilities"]
    got = np.load(str(tmp_path / "logits.npy"))
    assert got.shape == want.shape and np.max(np.abs(got - want)) < 1e-5


def test_saved_model_of_pretrained_weights(tmp_path):
    import tensorflow as tf
    src, released = hf_folder(tmp_path / "hf")
    out = str(tmp_path / "sm")
    assert export.main(["--params_dir", src, "--to", "saved_model", out]) == 0
    f = tf.saved_model.load(out).signatures["serving_default"]
    res = f(tokens=tf.constant([[5, 6, 7]], tf.int32))
    assert res["logits"].shape == (1, 3, 40478)


TORCH_ENV = "FINETUNE_LM_TORCH_PYTHON"

HF_RUN = r"""
import sys
import numpy as np, torch, transformers
from safetensors.numpy import load_file
out, inputs, result, kind = sys.argv[1:5]
z = np.load(inputs)
ids, clf = torch.tensor(z["ids"], dtype=torch.long), torch.tensor(z["clf"], dtype=torch.long)
with torch.no_grad():
    if kind in ("pair_sum", "linear"):
        model = transformers.OpenAIGPTModel.from_pretrained(out).eval()
        h = model(input_ids=ids.view(-1, ids.shape[-1])).last_hidden_state
        h = h.view(ids.shape[0], ids.shape[1], ids.shape[2], -1)
        pooled = torch.gather(h, 2, clf[..., None, None].expand(-1, -1, 1, h.shape[-1]))
        head = load_file(out + "/clf_head.safetensors")
        got = pooled[:, :, 0].sum(1).numpy() @ head["weight"].T + head["bias"]
    else:
        model = transformers.OpenAIGPTDoubleHeadsModel.from_pretrained(out).eval()
        got = model(input_ids=ids, mc_token_ids=clf).mc_logits.numpy()
np.save(result, got)
print(transformers.__version__, torch.__version__)
"""


def torch_python():
    """A Python with torch and transformers: $FINETUNE_LM_TORCH_PYTHON, else this one.
    transformers runs in its own process (torch and TensorFlow in one process crash)."""
    for exe in (os.environ.get(TORCH_ENV), sys.executable):
        if exe and subprocess.run([exe, "-c", "import torch, transformers"],
                                  capture_output=True).returncode == 0:
            return exe
    pytest.skip("torch and transformers are not installed (set %s to a Python that has "
                "them)" % TORCH_ENV)


@pytest.mark.slow  # a subprocess with torch
@pytest.mark.parametrize("task_name", ["rocstories", "rte", "mrpc"])
def test_transformers_gives_the_same_logits(tmp_path, task_name):
    exe = torch_python()
    run, arrays, info = fake_run(tmp_path / task_name, task_name, n_ctx=40)
    out = str(tmp_path / "hf")
    assert export.main(["--run", run, "--to", "hf", out]) == 0
    enc, info, want = predicted(run, task_name)
    X, M, _ = enc.batch(np.arange(len(enc)), info["n_ctx"], 40481)
    np.savez(str(tmp_path / "in.npz"), ids=X[..., 0], clf=np.argmax(X[..., 0] == 40480, -1))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([exe, "-c", HF_RUN, out, str(tmp_path / "in.npz"),
                           str(tmp_path / "got.npy"), info["head"]], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(str(tmp_path / "got.npy")).reshape(want.shape)
    assert np.max(np.abs(got - want)) < 1e-4, (task_name, np.max(np.abs(got - want)))
