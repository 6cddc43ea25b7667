"""The model, described once: its sizes and its head, the one small object written
beside every weight file the project writes (a run's model.json, the manifest.json of
pre-training's output, the exports) and read back by the one loader (lm/load.py).

TensorFlow-free. The optimiser's settings and the execution settings are separate
objects (model/hparams.py). `SCHEMA` declares every key: `from_dict` checks a record
against it, so that a damaged or edited record is one error naming its file and key.
"""

import dataclasses
from typing import Optional, Tuple

from finetune_lm.util import records
from finetune_lm.util.errors import UserError

# The names model/heads.py's HEADS and model/ops.py's ACT_FNS hold (those import
# TensorFlow; tests check that the lists agree).
HEAD_KINDS = ("choice", "linear", "pair_sum")
AFNS = ("gelu", "relu", "swish")


def _label_names(v):
    return all(isinstance(x, str) for x in v)


SCHEMA = {
    "n_vocab": records.integer("a positive integer (the vocabulary's tokens)", 1),
    "n_special": records.integer("a non-negative integer (the special tokens' rows)"),
    "n_ctx": records.integer("a positive integer (the model's positions)", 1),
    "n_embd": records.integer("a positive integer (the width)", 1),
    "n_head": records.integer("a positive integer (the attention heads)", 1),
    "n_layer": records.integer("a positive integer (the blocks)", 1),
    "afn": records.name(AFNS, required=False),
    "head": records.name(HEAD_KINDS, required=False, nullable=True),
    "n_seq": records.integer("a positive integer (K, sequences per example)", 1, required=False),
    "n_out": records.integer("a positive integer (output columns)", 1, required=False),
    "soft_targets": records.flag(required=False),
    "label_names": records.Field((list,), "a list of strings", required=False, nullable=True,
                                 test=_label_names),
}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The sizes and the head. head None: the language model alone (pre-training,
    sampling, perplexity); n_seq is K, n_out the head's output columns."""
    n_vocab: int = 40478
    n_special: int = 3
    n_ctx: int = 512
    n_embd: int = 768
    n_head: int = 12
    n_layer: int = 12
    afn: str = "gelu"
    head: Optional[str] = None
    n_seq: int = 1
    n_out: int = 1
    soft_targets: bool = False
    label_names: Optional[Tuple[str, ...]] = None

    @property
    def n_we(self):
        """Rows of the one embedding matrix: tokens, specials, positions."""
        return self.n_vocab + self.n_special + self.n_ctx

    @property
    def clf_token(self):
        """The id of `_classify_`, the last special token (data/text.py's order)."""
        return self.n_vocab + self.n_special - 1

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["label_names"] = list(self.label_names) if self.label_names is not None else None
        return d

    @classmethod
    def from_dict(cls, d, where, **defaults):
        """The config of a record (model.json, a manifest's "model", ...) after checking
        every key against SCHEMA; `defaults` stand for keys the record may lack (older
        records). Raises UserError naming `where` and the key."""
        records.check(d, SCHEMA, where, "the model's sizes (%s)" % ", ".join(SCHEMA))
        values = {f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d}
        for key, value in defaults.items():
            values.setdefault(key, value)
        if values.get("label_names") is not None:
            values["label_names"] = tuple(values["label_names"])
        config = cls(**values)
        config.check(where)
        return config

    def check(self, where):
        if self.n_embd % self.n_head:
            raise UserError("%s: n_embd %d is not divisible by n_head %d: expected a width the "
                            "heads divide" % (where, self.n_embd, self.n_head))
        return self


def of(hp):
    """The ModelConfig of any object holding its fields (HParams)."""
    return ModelConfig(**{f.name: getattr(hp, f.name) for f in dataclasses.fields(ModelConfig)})


def read(path, schema=None, **defaults):
    """The ModelConfig of a JSON file (model.json), checked against SCHEMA and `schema`
    (the record's other keys); returns (config, the record)."""
    record = records.read(path, dict(SCHEMA, **(schema or {})), "a JSON object of the model's sizes")
    return ModelConfig.from_dict(record, path, **defaults), record
