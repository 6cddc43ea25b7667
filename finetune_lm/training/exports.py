"""A training/model.Model written for other tools (finetune_lm/export.py is the command;
the Python API's export_model calls it too).

hf: a folder that transformers 4.x loads with `from_pretrained` and no flags:
config.json (model type openai-gpt; vocab_size counts the three special tokens of a
run; n_positions the run's n_ctx; afn gelu, transformers' tanh GELU as the
original's), model.safetensors (metadata {"format": "pt"}, keys with the
`transformer.` prefix, written with safetensors.numpy), the tokenizer files (the
release's vocabulary as vocab.json and merges.txt, `_start_`, `_delimiter_`,
`_classify_` registered as special tokens with the model's ids), README.md, and
model.json (as every export holds it: a run's whole record, the vocabulary paths left
out; for pre-trained weights their ModelConfig, model/config.py). lm/loader.py reads
an export back (training/model.Model.load: a run's export is the run again). A
multiple-choice head (ROCStories, RACE) is OpenAIGPTDoubleHeadsModel's
multiple_choice_head.summary (clf/w transposed, clf/b; summary_type cls_index: pass
the `_classify_` positions as mc_token_ids). The one-sequence head (classification,
entailment) and the similarity head (two orders summed before the linear layer) have
no transformers class (OpenAIGPTDoubleHeadsModel fixes num_labels to 1;
OpenAIGPTForSequenceClassification has no bias): the transformer is exported
(OpenAIGPTLMHeadModel) and the head written beside it as clf_head.safetensors, the
README giving the arithmetic. Pre-trained weights: OpenAIGPTLMHeadModel.

saved_model: tf.saved_model with a serving_default signature over token ids: a run
takes `tokens` int32 [B, K, T] and `mask` float32 [B, K, T] (T <= n_ctx; positions
are built inside; tokens where the mask is 0 are padding) and returns `logits` and
`probabilities` [B, n_logits]; pre-trained weights take `tokens` int32 [B, T] and
return the next-token `logits` and `probabilities` [B, T, vocabulary]. The vocabulary
files and labels.json (task, label names, special token ids) are assets. It loads
with tf.saved_model.load (or TF Serving) without this package; its serving function
is the Model's forward pass (objectives.FineTuning.logits, transformer.next_token_logits).

What is exported is a Model (`load`: Model.load_run, Model.load_lm): its hp, arrays,
record and vocabulary. `write` writes it whole into a temporary folder, then swaps it
in: a failure (a full disk) removes it and leaves what was at OUT before. Nothing here
imports TensorFlow but the SavedModel's writer.
"""

import json
import os
import shutil
import tempfile

import numpy as np

from finetune_lm.lm import hf
from finetune_lm.model.variables import n_transformer
from finetune_lm.training import runs
from finetune_lm.training.runs import MODEL_JSON
from finetune_lm.util.errors import UserError
from finetune_lm.util.files import atomic_dir, check_target

FORMATS = ("hf", "saved_model")
EXPORT_MARKS = (hf.CONFIG, "saved_model.pb")  # what a folder an export wrote holds

DIFFERENCES = """\
## What differs from the original (openai/finetune-transformer-lm)

- Tokenizer: transformers' OpenAIGPTTokenizer (the slow one; with ftfy and spacy
  installed) lower-cases the text before spaCy tokenizes it; the original (and
  finetune_lm) lower-cases each spaCy token after. spaCy splits a few texts differently
  by case: 5 of the 11,226 ROCStories texts get other ids. `AutoTokenizer` gives the
  fast tokenizer (BERT's pre-tokenizer instead of spaCy): 1,886 of the 11,226 differ
  (both measured with transformers 4.57). Use `OpenAIGPTTokenizer.from_pretrained`, or,
  for exactly the training ids, encode with finetune_lm and pass the ids. The special
  tokens get the model's ids either way.
- LM head: transformers' lm_head scores the token rows only (vocab_size rows, the
  special tokens included); the original's softmax also covered the position rows of
  its one embedding matrix. The classifier does not read the LM head.
- The attention mask is -1e4 in transformers, -1e9 in the original: after the softmax
  both are exactly 0 in float32.
"""



def load(run=None, params_dir=None, encoder_path=None, bpe_path=None, unverified=False):
    """The training/model.Model of a run's folder (`run`) or of weights (`params_dir`),
    through the loader, without TensorFlow."""
    from finetune_lm.training.model import Model
    if (run is None) == (params_dir is None):
        raise UserError("expected one of --run save/<desc> and --params_dir FOLDER")
    if run is not None:
        return Model.load_run(run, "params/", encoder_path, bpe_path)
    return Model.load_lm(params_dir, params_dir, encoder_path, bpe_path, unverified=unverified)


def check_out(out, inputs=()):
    """OUT before anything is read: not the current folder, nor one holding `inputs`
    (the run or the weights); an existing folder only when an export wrote it (it is
    replaced whole); a parent this user can write."""
    check_target(out, "OUT", tuple(inputs))
    if os.path.isdir(out) and os.listdir(out) and not any(
            os.path.isfile(os.path.join(out, n)) for n in EXPORT_MARKS):
        raise UserError("OUT %s is a folder that holds files but no export (%s); it would be "
                        "replaced whole: expected a new folder or a previous export"
                        % (out, " or ".join(EXPORT_MARKS)))


def write(model, out, to):
    """The export of `model` to folder `out`, `to` one of FORMATS, with its model.json."""
    if to not in FORMATS:
        raise ValueError("to %r: expected one of %s" % (to, FORMATS))
    with atomic_dir(out) as tmp:
        if to == "hf":
            export_hf(model, tmp)
        else:
            export_saved_model(model, tmp)
        with open(os.path.join(tmp, MODEL_JSON), "w") as f:  # the model, described once
            json.dump(record(model), f, indent=1, sort_keys=True)


def record(model):
    """model.json of the export: a run's whole record (Model.load of the export reads
    the fine-tuned model back), its vocabulary paths left out (the export holds the
    files); the config alone for language-model weights."""
    config = model.config.to_dict()
    if model.info is None:
        return config
    out = {k: v for k, v in model.info.items() if not k.startswith("_")}
    out.update(config, encoder_path=None, bpe_path=None)
    return out


# -- Hugging Face -------------------------------------------------------------------------

def export_hf(model, out):
    run, task, arrays = model.info is not None, model.task, model.arrays
    info = model.info or model.config.to_dict()
    n_layer, c = info["n_layer"], info["n_embd"]
    n_rows = info["n_vocab"] + info["n_special"]
    tensors = hf.hf_tensors(arrays[0], arrays[1:n_transformer(n_layer)], n_rows, n_layer)
    specials = None
    extra = {}
    num_labels = id2label = None
    architecture = "OpenAIGPTLMHeadModel"
    head_note = ""
    if run:
        from finetune_lm.data.text import SPECIAL_TOKENS
        specials = [(name, info["n_vocab"] + i) for i, name in enumerate(SPECIAL_TOKENS)]
        w, b = arrays[-2], arrays[-1]
        names = runs.class_names(task, info)
        extra["finetune_lm"] = {
            "task": task.name, "head": info["head"], "n_seq": info["n_seq"],
            "n_out": info["n_out"], "labels": names, "special_tokens": dict(specials),
            "clf_token": info.get("clf_token", info["n_vocab"] + 2),
            "n_ctx_flag": info.get("n_ctx_flag", 512)}
        if info["head"] == "choice":
            architecture = "OpenAIGPTDoubleHeadsModel"
            tensors["multiple_choice_head.summary.weight"] = np.ascontiguousarray(w.T)
            tensors["multiple_choice_head.summary.bias"] = np.ascontiguousarray(b)
            num_labels = 1
            head_note = HEAD_DOUBLE
        else:
            # transformers has no class for these: OpenAIGPTDoubleHeadsModel sets
            # num_labels = 1 in its constructor, OpenAIGPTForSequenceClassification's
            # score layer has no bias. The transformer, and the head beside it.
            hf.save_tensors(os.path.join(out, hf.HEAD_FILE),
                            {"weight": np.ascontiguousarray(w.T), "bias": np.ascontiguousarray(b)})
            template = HEAD_PAIR if info["head"] == "pair_sum" else HEAD_LINEAR
            head_note = template % {"n": int(b.shape[0]), "labels": ", ".join(names),
                                    "file": hf.HEAD_FILE, "c": c,
                                    "soft": "\nSTS-B's score is the expected class, "
                                            "`sum_k k * softmax(logits)_k`."
                                            if task.soft_targets else ""}
    hf.save_tensors(os.path.join(out, hf.SAFETENSORS), tensors)
    config = hf.gpt_config(n_rows, int(arrays[0].shape[0]) - n_rows, c, n_layer,
                           info["n_head"], info.get("afn", "gelu"), architecture,
                           num_labels, id2label, extra)
    with open(os.path.join(out, hf.CONFIG), "w") as f:
        json.dump(config, f, indent=1)
    hf.write_tokenizer(out, *model.vocabulary, specials=specials)
    title = ("a GPT-1 fine-tuned on %s by finetune_lm" % task.display if task
             else "GPT-1 weights exported by finetune_lm")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("# %s\n\n%s: %d layers, width %d, %d heads, n_positions %d, vocab_size %d%s.\n\n"
                "%s\n%s" % (title, architecture, n_layer, c, info["n_head"],
                            config["n_positions"], n_rows,
                            " (the release's 40478 and `_start_`, `_delimiter_`, `_classify_`)"
                            if specials else "", head_note, DIFFERENCES))
    return config


HEAD_DOUBLE = """\
## The task head

`multiple_choice_head.summary` is the run's classifier (`clf/w` transposed, `clf/b`),
read at the `_classify_` token of each sequence: pass its position as `mc_token_ids`.
Inputs are the ids finetune_lm's task transformation makes, one sequence per option:
`_start_ context _delimiter_ option _classify_`. `mc_logits` [B, K] holds one score per
option; the prediction is the argmax over the options.

```python
from transformers import OpenAIGPTDoubleHeadsModel
model = OpenAIGPTDoubleHeadsModel.from_pretrained(folder).eval()
out = model(input_ids=ids, mc_token_ids=clf_positions)   # ids [B, K, T], positions [B, K]
logits = out.mc_logits                                    # [B, K]
```
"""

HEAD_LINEAR = """\
## The task head (not a transformers class): %(file)s

transformers has no class computing this head: OpenAIGPTDoubleHeadsModel fixes
num_labels to 1, OpenAIGPTForSequenceClassification's layer has no bias. It reads the
hidden state at the `_classify_` token of `_start_ text _classify_` (classification) or
`_start_ premise _delimiter_ hypothesis _classify_` (entailment) and applies one linear
layer:

    h = hidden_states[clf]                               # [%(c)d], OpenAIGPTModel's last layer
    logits = weight @ h + bias                           # weight [%(n)d, %(c)d], bias [%(n)d]

with `weight`, `bias` from %(file)s (safetensors), classes %(labels)s.
"""

HEAD_PAIR = """\
## The task head (not a transformers class): %(file)s

The similarity head reads both orders of a pair, `_start_ A _delimiter_ B _classify_`
and `_start_ B _delimiter_ A _classify_`, through the transformer, adds the two hidden
states at their `_classify_` tokens, and applies one linear layer:

    h = h_AB[clf_AB] + h_BA[clf_BA]                      # [%(c)d]
    logits = weight @ h + bias                           # weight [%(n)d, %(c)d], bias [%(n)d]

with `weight`, `bias` from %(file)s (safetensors), classes %(labels)s.%(soft)s
"""


# -- SavedModel ---------------------------------------------------------------------------

def export_saved_model(model, out):
    """The SavedModel: its serving function is the Model's forward pass (the evaluation's
    objectives.FineTuning.logits, the scorer's transformer.next_token_logits)."""
    import tensorflow as tf
    from finetune_lm.lm import loader
    from finetune_lm.model.transformer import next_token_logits
    from finetune_lm.training.objectives import FineTuning
    run, task, arrays = model.info is not None, model.task, model.arrays
    info = model.info or {}
    # The model's sizes and head, without dropout; float32 whatever the run computed in.
    hp = model.hp.replace(compute_dtype="float32")
    names = [name for name, _ in loader.shapes(model.config)]
    labels = {"task": task.name if run else None,
              "head": info.get("head") if run else "lm",
              "labels": runs.class_names(task, info) if run else None,
              "n_ctx": hp.n_ctx, "n_vocab": hp.n_vocab,
              "special_tokens": ({"_start_": hp.n_vocab, "_delimiter_": hp.n_vocab + 1,
                                  "_classify_": hp.n_vocab + 2} if run else {}),
              "inputs": ("tokens int32 [B, %d, T], mask float32 [B, %d, T], T <= %d"
                         % (hp.n_seq, hp.n_seq, hp.n_ctx) if run else
                         "tokens int32 [B, T], T <= %d" % hp.n_ctx)}
    asset_dir = tempfile.mkdtemp()
    labels_path = os.path.join(asset_dir, "labels.json")
    with open(labels_path, "w") as f:
        json.dump(labels, f, indent=1)
    pos0 = hp.n_vocab + hp.n_special

    class Exported(tf.Module):
        def __init__(self):
            super().__init__()
            # lm/loader.py reads them back by these names (loader.SAVED_MODEL_KEY)
            self.params = {loader.saved_name(n): tf.Variable(np.asarray(a, np.float32), name=n,
                                                             trainable=False)
                           for n, a in zip(names, arrays)}
            self.encoder_file = tf.saved_model.Asset(model.vocabulary[0])
            self.bpe_file = tf.saved_model.Asset(model.vocabulary[1])
            self.labels_file = tf.saved_model.Asset(labels_path)

        def _p(self):
            return {n: self.params[loader.saved_name(n)] for n in names}

        def _check_len(self, t):
            return tf.debugging.assert_less_equal(
                t, hp.n_ctx, message="inputs longer than the model's n_ctx (%d)" % hp.n_ctx)

        if run:
            @tf.function(input_signature=[
                tf.TensorSpec([None, hp.n_seq, None], tf.int32, name="tokens"),
                tf.TensorSpec([None, hp.n_seq, None], tf.float32, name="mask")])
            def serve(self, tokens, mask):
                t = tf.shape(tokens)[2]
                with tf.control_dependencies([self._check_len(t)]):
                    tokens = tokens * tf.cast(mask > 0, tf.int32)
                pad = [[0, 0], [0, 0], [0, hp.n_ctx - t]]
                size = [None, hp.n_seq, hp.n_ctx]  # the padded length, known to the graph
                tokens = tf.ensure_shape(tf.pad(tokens, pad), size)  # [B, K, n_ctx]
                M = tf.ensure_shape(tf.pad(tf.cast(mask > 0, tf.float32), pad), size)
                X = tf.stack([tokens, tf.broadcast_to(pos0 + tf.range(hp.n_ctx),
                                                      tf.shape(tokens))], -1)  # [B, K, n_ctx, 2]
                logits = FineTuning(hp).logits(self._p(), X, M)  # [B, n_logits]
                return {"logits": logits, "probabilities": tf.nn.softmax(logits)}
        else:
            @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="tokens")])
            def serve(self, tokens):
                t = tf.shape(tokens)[1]
                with tf.control_dependencies([self._check_len(t)]):
                    pos = tf.broadcast_to(pos0 + tf.range(t), tf.shape(tokens))
                X = tf.stack([tokens, pos], -1)  # [B, T, 2]
                logits = next_token_logits(self._p(), X, hp)  # [B, T, n_vocab]
                return {"logits": logits, "probabilities": tf.nn.softmax(logits)}

    module = Exported()
    tf.saved_model.save(module, out, signatures={"serving_default": module.serve})
    shutil.rmtree(asset_dir, ignore_errors=True)
    return labels
