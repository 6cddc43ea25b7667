"""finetune_lm: GPT-1 fine-tuning (openai/finetune-transformer-lm) on TensorFlow 2."""

__version__ = "0.1.0"
