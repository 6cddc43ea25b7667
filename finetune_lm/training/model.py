"""One model over loaded weights: what the commands after training (predict, sample,
perplexity, export) and the Python API (finetune_lm/api.py) ask of it.

`Model(hp, arrays)` holds the sizes (an HParams: n_vocab, n_special, n_ctx, n_embd,
n_head, n_layer, afn, and for a fine-tuned model its head: head, n_seq, n_out,
soft_targets) and the arrays in checkpoint order (the transformer's, then the task
head's, if any). `Model.load(path)` reads, through lm/loader.py, a run's folder
(model.json and best_params.jl), a train.py best_params.jl, a folder in the released
format, a Hugging Face GPT-1 folder, or an export (finetune_lm/export.py: a run's
export is the fine-tuned model again, its vocabulary the export's).

- `classify(encoded)`: the classifier's logits of a task's encoded split
  (data/inputs.Encoded), through the training layer's evaluation step
  (towers.mgpu_predict on the run's towers and batch): the numbers the training run's
  own evaluation computed, bit for bit. `probabilities` is their softmax.
- `token_logprobs(tokens)`: the log-probability of each token given those before it,
  in the windows perplexity scores (lm/scorer.py); `scorer()` is perplexity's engine;
  `sequence_logprobs(seqs)` the same of many short sequences, batched (zero-shot).
- `generate(prompt, length, ...)`: sampling with the kv cache (lm/sampler.py), or
  with cache=False the reference that runs the whole prefix for every token;
  `complete(text, length, ...)` the same from a prompt's text to texts (sample's).

TensorFlow's variables are made on first use: the classifier's in the strategy's scope
(as training made them), the language model's as plain variables (as sample and
perplexity always read them).
"""

import os

import numpy as np

from finetune_lm.model import release
from finetune_lm.util.errors import UserError


class Model:
    """A loaded model: hp (the sizes and, fine-tuned, the head) and its arrays."""

    def __init__(self, hp, arrays, info=None, vocabulary=None, where=None):
        """info: a run's model.json (None for language-model weights); vocabulary:
        (encoder path, BPE path) of its text encoder, when known; where: what it was
        loaded from (for messages)."""
        self.hp, self.arrays, self.info = hp, list(arrays), info
        self.vocabulary, self.where = vocabulary, where
        self._lm_params = None
        self._predict = {}
        self._encoder = None

    # -- loading ----------------------------------------------------------------------

    @classmethod
    def load(cls, path, params_dir="params/", encoder_path=None, bpe_path=None, n_batch=None,
             xla=None, n_layer=None, n_embd=None, n_head=None, afn=None):
        """A run's folder (model.json, best_params.jl), a best_params.jl, a folder in the
        released format or a Hugging Face GPT-1 folder. params_dir: where the vocabulary
        is when the run's recorded files are gone (or for a best_params.jl without its
        model.json); n_batch, xla: the evaluation's batch per tower and XLA (default:
        the run's). The sizes of language-model weights come from the files (the
        optional n_layer ... afn must agree with them)."""
        from finetune_lm.lm.loader import kind
        from finetune_lm.training import runs
        # A folder with model.json is a run (or a run's export), but for a language
        # model's export, whose model.json is the config alone.
        if os.path.isdir(path) and os.path.isfile(os.path.join(path, runs.MODEL_JSON)) and (
                runs.is_export_of_run(path) or kind(path) not in ("hf", "saved_model")):
            return cls.load_run(path, params_dir, encoder_path, bpe_path, n_batch, xla)
        if os.path.isfile(path) and os.path.isfile(
                os.path.join(os.path.dirname(path) or ".", runs.MODEL_JSON)) \
                and os.path.basename(path) == runs.BEST:
            return cls.load_run(os.path.dirname(path) or ".", params_dir, encoder_path,
                                bpe_path, n_batch, xla)
        return cls.load_lm(path, params_dir, encoder_path, bpe_path, xla, n_layer=n_layer,
                           n_embd=n_embd, n_head=n_head, afn=afn)

    @classmethod
    def load_run(cls, run_dir, params_dir="params/", encoder_path=None, bpe_path=None,
                 n_batch=None, xla=None):
        """A fine-tuning run's folder, or its export: its task head, towers and batch as
        it evaluated."""
        from finetune_lm.training import runs
        if runs.is_export_of_run(run_dir):  # its own vocabulary files, its arrays
            info, arrays = runs.read_export(run_dir)
            params_dir = runs.export_vocab_dir(run_dir)
        else:
            info, best = runs.read_run(run_dir)
            arrays = runs.load_arrays(info, best)
        vocab = runs.vocabulary(info, params_dir, encoder_path, bpe_path)
        changes = {}
        if n_batch:
            changes["n_batch"] = n_batch
        if xla is not None:
            changes["xla"] = xla
        return cls(runs.hparams(info, **changes), arrays, info, vocab, run_dir)

    @classmethod
    def load_lm(cls, path, params_dir="params/", encoder_path=None, bpe_path=None, xla=None,
                unverified=False, **sizes):
        """Language-model weights: a best_params.jl (its head not read) or a folder (a
        folder not the release and without a manifest: refused, or with unverified a
        warning line on stderr)."""
        import sys
        from finetune_lm.lm.loader import load_checkpoint, load_params_dir
        from finetune_lm.lm.hf import vocab_path
        from finetune_lm.data.text import load_encoder
        folder = path if os.path.isdir(path) else params_dir
        vocab = (encoder_path or vocab_path(folder, release.ENCODER_FILE),
                 bpe_path or vocab_path(folder, release.BPE_FILE))
        for p in vocab:
            if not os.path.isfile(p):
                raise UserError("the vocabulary file %s is not there: expected it in %s (or "
                                "pass its path)" % (p, folder))
        n_vocab = len(load_encoder(vocab[0]))
        if os.path.isdir(path):
            arrays, hp = load_params_dir(path, n_vocab, unverified=unverified,
                                         out=sys.stderr, **sizes)
        else:
            arrays, hp = load_checkpoint(path, n_vocab, **sizes)
        hp = hp.replace(xla=True if xla is None else bool(xla))
        return cls(hp, arrays, None, vocab, path)

    # -- what it holds ----------------------------------------------------------------

    @property
    def config(self):
        """The ModelConfig of its sizes and head (model/config.py)."""
        from finetune_lm.model.config import of
        return of(self.hp)

    @property
    def task(self):
        """The task declaration of a fine-tuned model (None for a language model)."""
        # task_for_run, not get_task: a run on the user's own files (--dataset custom,
        # --task_file) is rebuilt from the spec its model.json records.
        from finetune_lm.tasks import task_for_run
        return task_for_run(self.info) if self.info else None

    @property
    def encoder(self):
        """The BPE text encoder (data/text.TextEncoder) of the vocabulary files."""
        if self._encoder is None:
            from finetune_lm.data.text import TextEncoder
            if not self.vocabulary:
                raise UserError("%s: no vocabulary files known; pass encoder_path and bpe_path"
                                % self.where)
            self._encoder = TextEncoder(*self.vocabulary)
        return self._encoder

    @property
    def lm_params(self):
        """{name: tf.Variable} of the transformer (the language model's variables)."""
        if self._lm_params is None:
            from finetune_lm.lm.folder import as_variables
            self._lm_params = as_variables(self.arrays, self.hp)
        return self._lm_params

    # -- the classifier ---------------------------------------------------------------

    def predictor(self, cpu_devices=0):
        """towers.mgpu_predict's function over the parameters, on the run's towers
        (--n_gpu) and batch: the training evaluation's step."""
        if self.info is None:
            raise UserError("%s holds a language model, not a fine-tuned classifier: expected "
                            "a run's folder (model.json, best_params.jl)" % self.where)
        if "fn" not in self._predict:
            import tensorflow as tf
            from finetune_lm.training import towers
            from finetune_lm.training.objectives import FineTuning
            if cpu_devices and cpu_devices > 1:
                towers.split_cpu(cpu_devices)
            tf.config.experimental.enable_op_determinism()
            objective = FineTuning(self.hp)
            state = towers.TrainState(towers.make_strategy(self.hp.n_gpu), self.hp,
                                      objective.param_shapes(), self.arrays, slots=False)
            self._predict["fn"] = towers.mgpu_predict(state, objective)
        return self._predict["fn"]

    def classify(self, encoded, desc="predict", cpu_devices=0):
        """Logits [N, n_logits] of an encoded split (data/inputs.Encoded), in batches of
        n_gpu * n_batch as the training run's evaluation (training/loop.predict_split)."""
        from finetune_lm.training import loop
        return loop.predict_split(self.predictor(cpu_devices), encoded, self.hp,
                                  desc=desc)[0]

    def probabilities(self, encoded, **kwargs):
        """softmax of classify's logits, in float64 (as predict writes them)."""
        from finetune_lm.training.runs import softmax
        return softmax(self.classify(encoded, **kwargs))

    # -- the language model -----------------------------------------------------------

    def scorer(self, n_ctx=None, n_batch=4):
        """lm/scorer.Scorer over the language model (perplexity's engine)."""
        from finetune_lm.lm.scorer import Scorer
        return Scorer(self.lm_params, self.hp, n_ctx, n_batch)

    def token_logprobs(self, tokens, n_ctx=None, stride=None, n_batch=4):
        """log p(token j | the tokens before it in its window) for j = 1 .. len - 1 of one
        token sequence (float32 [len - 1]), in perplexity's windows: their negated sum is
        the scorer's summed loss (up to float round-off: summed here, not in the graph)."""
        return -self.scorer(n_ctx, n_batch).token_losses(np.asarray(tokens), stride)

    def sequence_logprobs(self, seqs, n_batch=8, progress=None):
        """log p(token j | the tokens before it) of every token after the first of each
        token list of `seqs` (each 1..n_ctx tokens; [len(s) - 1] float32 arrays), batched
        (lm/scorer.Scorer.sequence_logprobs: the zero-shot heuristics' engine)."""
        return self.scorer(n_batch=n_batch).sequence_logprobs(seqs, progress)

    def sampler(self, n_samples, n_prompt, length, temperature=1.0, top_k=0, top_p=1.0,
                return_logits=False):
        """lm/sampler.Sampler (one compiled program for these sizes)."""
        from finetune_lm.lm.sampler import Sampler
        return Sampler(self.lm_params, self.hp, n_samples, n_prompt, length, temperature,
                       top_k, top_p, xla=self.hp.xla, return_logits=return_logits)

    def complete(self, prompt, length, n_samples=1, temperature=1.0, top_k=40, top_p=1.0,
                 seed=0, warn=None, encoder=None):
        """(tokens [n_samples, length], texts) continuing the prompt's text (encoded with
        `encoder`, default the model's; cut to fit as lm/sampler.fit_prompt says on
        `warn`): sample's and the Python API's generation."""
        from finetune_lm.lm.sampler import decode, fit_prompt
        from finetune_lm.training.checks import check_fits
        encoder = encoder or self.encoder
        check_fits(self.hp, length, top_k)
        ids = encoder.encode([prompt])[0]
        if not ids:
            raise UserError("--prompt %r encodes to no token; expected some text" % prompt)
        ids = fit_prompt(ids, length, self.hp.n_ctx, warn)
        tokens = self.generate(ids, length, n_samples, temperature, top_k, top_p, seed)
        return tokens, [decode(row, encoder.decoder) for row in tokens]

    def generate(self, prompt, length, n_samples=1, temperature=1.0, top_k=0, top_p=1.0,
                 seed=0, cache=True):
        """tokens [n_samples, length] continuing the prompt's token ids: with the kv cache
        (one compiled program), or cache=False running the whole prefix for every token
        (the reference; slow). The same draws either way."""
        if cache:
            return self.sampler(n_samples, len(prompt), length, temperature, top_k,
                                top_p)(prompt, seed)
        from finetune_lm.lm.sampler import sample_without_cache
        return sample_without_cache(self.lm_params, self.hp, prompt, n_samples, length, seed,
                                    temperature, top_k, top_p)[0]
