"""finetune_lm: GPT-1 fine-tuning (openai/finetune-transformer-lm) on TensorFlow 2.

The Python API (finetune_lm/api.py, docs/python_api.md) is here by name: load,
generate, score, fine_tune, predict_rows, export_model, Model, Error. It is imported on first
use, so `import finetune_lm` stays fast and TensorFlow-free.
"""

__version__ = "0.1.0"

_API = ("Error", "Model", "load", "generate", "score", "fine_tune", "predict_rows",
        "export_model")


def __getattr__(name):
    if name in _API:
        from finetune_lm import api
        return getattr(api, name)
    raise AttributeError("module 'finetune_lm' has no attribute %r" % name)


def __dir__():
    return sorted(("__version__",) + _API)
