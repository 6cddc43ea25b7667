"""The hyperparameters that travel explicitly (the original kept them as module globals),
in three parts: the model (model/config.py's ModelConfig: sizes and head), the training
settings (`OptSettings`: dropout, the loss's weights, Adam and its schedule, the seed)
and the execution settings (`ExecSettings`: towers, XLA, the matmuls' type). `HParams`
is the three composed, flat, for the functions that read any of them; an inference path
builds it from a ModelConfig alone (`HParams.of(config)`: no dropout, no optimiser)."""

import dataclasses
from finetune_lm.model.config import ModelConfig


@dataclasses.dataclass(frozen=True)
class OptSettings:
    """What training alone reads: dropout, the LM loss's weight, Adam, its schedule."""
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    resid_pdrop: float = 0.1
    clf_pdrop: float = 0.1
    lm_coef: float = 0.5
    lr: float = 6.25e-5
    lr_warmup: float = 0.002
    lr_schedule: str = "warmup_linear"
    b1: float = 0.9
    b2: float = 0.999
    e: float = 1e-8
    l2: float = 0.01
    vector_l2: bool = False
    max_grad_norm: float = 1.0
    n_updates_total: int = 1
    seed: int = 42


# Inference: the dropout off (the rest is not read).
NO_DROPOUT = OptSettings(embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0, clf_pdrop=0.0)


@dataclasses.dataclass(frozen=True)
class ExecSettings:
    """How the numbers are computed (no effect beyond float round-off): n_gpu towers of
    n_batch examples, XLA, the matmuls' type and float16's loss scale."""
    n_batch: int = 8
    n_gpu: int = 4
    xla: bool = False
    # Mixed precision: the matmuls run in this type; softmax, layer norm, the
    # losses and Adam stay float32. float16 uses a static loss scale (0: 4096).
    compute_dtype: str = "float32"
    loss_scale: float = 0.0


def _names(cls):
    return tuple(f.name for f in dataclasses.fields(cls))

# The names --afn and --lr_schedule take, without TensorFlow (model/ops.py's ACT_FNS and
# training/opt.py's SCHEDULES implement them; a test keeps the names equal).
ACTIVATIONS = ("gelu", "relu", "swish")
SCHEDULES = ("warmup_constant", "warmup_cosine", "warmup_linear")


class _Composed:
    """HParams' methods (its fields are the three parts', declared there once)."""

    @property
    def n_batch_train(self):
        return self.n_batch * self.n_gpu

    @property
    def n_we(self):
        """Rows of the one embedding matrix: tokens, specials, positions."""
        return self.n_vocab + self.n_special + self.n_ctx

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    @classmethod
    def of(cls, model, opt=NO_DROPOUT, exe=None, clf_token=None):
        """The three parts composed; clf_token defaults to the model's `_classify_` (the
        release's 40480 for the LM alone, which reads none)."""
        values = {k: getattr(model, k) for k in _names(ModelConfig)}
        values.update({k: getattr(opt, k) for k in _names(OptSettings)})
        values.update({k: getattr(exe or ExecSettings(), k) for k in _names(ExecSettings)})
        if clf_token is None:
            clf_token = model.clf_token if model.n_special else CLF_TOKEN
        return cls(clf_token=clf_token, **values)

    @property
    def model(self):
        return ModelConfig(**{k: getattr(self, k) for k in _names(ModelConfig)})

    @property
    def opt(self):
        return OptSettings(**{k: getattr(self, k) for k in _names(OptSettings)})

    @property
    def exe(self):
        return ExecSettings(**{k: getattr(self, k) for k in _names(ExecSettings)})


CLF_TOKEN = 40480  # the release's `_classify_`: 40478 tokens, then 3 special ones


def _fields():
    out = [(f.name, f.type, dataclasses.field(default=f.default))
           for part in (ModelConfig, OptSettings, ExecSettings) for f in dataclasses.fields(part)]
    return out + [("clf_token", int, dataclasses.field(default=CLF_TOKEN))]


# The model, the training settings and the execution settings, flat: every field of the
# three parts (hp.n_embd, hp.lr, hp.xla) and clf_token, the id the heads read.
HParams = dataclasses.make_dataclass("HParams", _fields(), bases=(_Composed,), frozen=True,
                                     namespace={"__module__": __name__})
