"""Fine-tuning's side of the loop (training/loop.py): the original's epochs and
evaluations, for any task (the job reads the task's declaration, never its name).

Each epoch is a permutation of the training set from the global numpy generator,
batches of n_batch * n_gpu (the last partial one dropped); an evaluation after each
epoch (and at updates 1000, 2000, 4000, ... of the first) on the first n_valid
training examples in file order and on the valid split; best_params.jl replaced on a
strictly better main metric on the valid split.
"""

import os
import sys

import numpy as np
import tensorflow as tf

from finetune_lm.data.text import vocabulary_sha256
from finetune_lm.training.checkpoint import rng_state, save_params, set_rng_state
from finetune_lm.training.loop import (ResultLogger, batches_ahead, evaluate, iter_batches,
                                       scalar_summary, shuffled)
from finetune_lm.util.files import atomic_write_json

OUT_OF_FIRST_EPOCH_EVALS = (1000, 2000, 4000, 8000, 16000, 32000)


MODEL_JSON_VERSION = 2


def model_info(task, hp, args=None):
    """model.json beside best_params.jl (and the log's first line): the sizes the arrays
    need (n_ctx is the data's) and, in version 2, what predict and export need besides
    (training/runs.py reads it). args: the run's flags as a dict (args_dict)."""
    info = {"n_ctx": hp.n_ctx, "n_vocab": hp.n_vocab, "n_special": hp.n_special,
            "n_embd": hp.n_embd, "n_head": hp.n_head, "n_layer": hp.n_layer,
            "head": hp.head, "n_seq": hp.n_seq, "n_out": hp.n_out, "task": task.name}
    if args is None:
        return info
    info.update({
        "version": MODEL_JSON_VERSION, "afn": hp.afn, "clf_token": hp.clf_token,
        "soft_targets": hp.soft_targets, "n_ctx_flag": args.get("n_ctx"),
        "n_batch": hp.n_batch, "n_gpu": hp.n_gpu, "xla": bool(hp.xla),
        "compute_dtype": hp.compute_dtype,
        "label_names": list(task.label_names) if task.label_names else None,
        # A task built from flags or a file outside the package: how to build it again.
        "task_spec": task.spec,
        "data_dir": os.path.abspath(args["data_dir"]) if args.get("data_dir") else None})
    if args.get("encoder_path") and args.get("bpe_path"):
        info.update({"encoder_path": os.path.abspath(args["encoder_path"]),
                     "bpe_path": os.path.abspath(args["bpe_path"]),
                     "vocab_sha256": {"encoder": vocabulary_sha256(args["encoder_path"]),
                                      "bpe": vocabulary_sha256(args["bpe_path"])}})
    return info


class FineTuneJob:
    """The hooks of one fine-tuning run. state: towers.TrainState; predict:
    towers.mgpu_predict's function; data: {split: data.inputs.Encoded}; ckpt: the run's
    RunCheckpoint and meta its restored state (None: a fresh run); paths: train.run_paths;
    args: the run's flags as the log records them; chief: whether this worker writes;
    inputs: what the encoding cut or found empty, per split (the log's first line)."""

    def __init__(self, task, hp, state, data, predict, ckpt, meta, paths, args, chief, inputs=None):
        self.task, self.hp, self.state, self.data, self.predict = task, hp, state, data, predict
        self.ckpt, self.paths, self.args, self.chief = ckpt, paths, args, chief
        self.submit = args["submit"]
        self.best = task.main_metric.low
        self.order, self.n_updates = None, 0
        self.model = model_info(task, hp, args)
        if meta is not None:
            self.n_updates, self.best = meta["n_updates"], meta["best"]
            self.order = None if meta["order"] is None else np.asarray(meta["order"], np.int64)
            set_rng_state(meta["rng"])
            self.logger = ResultLogger(paths["log"], lines=meta["log"], write=chief)
        else:
            # The effective n_ctx (fixed by the data) is in the log's first line, and in
            # model.json beside best_params.jl, so the arrays load without guessing it.
            self.logger = ResultLogger(paths["log"], write=chief, **args,
                                       model=self.model, inputs=inputs or {},
                                       submissions=sorted(paths["submissions"].values()) if self.submit else [])
            self.save_best()
        self.writer = tf.summary.create_file_writer(paths["tensorboard"]) if chief else None

    @property
    def n_batches(self):
        return len(self.data["train"]) // self.hp.n_batch_train

    def save_best(self):
        # With or without --submit: a finished run given --submit (or --analysis) later
        # predicts from these, without training again.
        if self.chief:
            save_params(self.paths["best"], self.state.get_params())
            atomic_write_json(self.paths["model"], self.model)

    def batches(self, epoch, first_batch):
        tr = self.data["train"]
        if self.order is None:
            self.order = shuffled(len(tr))
        rows = [self.order[s] for s in iter_batches(len(tr), self.hp.n_batch_train, truncate=True)]
        return batches_ahead(tr, rows[first_batch:], self.hp)

    def after_update(self, n_updates, out):
        self.n_updates = n_updates
        if self.writer is not None:
            grad_norm, lr = out.grad_norm, out.lr
            with self.writer.as_default(step=n_updates):
                scalar_summary("learning_rate", float(lr))
                scalar_summary("grad_norm", float(grad_norm))

    def evaluate_now(self, n_updates, epoch, batch):
        return n_updates in OUT_OF_FIRST_EPOCH_EVALS and epoch == 0

    def evaluate(self, n_epochs):
        task, hp = self.task, self.hp
        tr, va = self.data["train"], self.data["valid"]
        # The original's train figures: the first n_valid examples, in file order.
        tr_cost, tr_m = evaluate(task, self.predict, tr, hp, np.arange(min(len(va), len(tr))),
                                 "eval train")
        va_cost, va_m = evaluate(task, self.predict, va, hp, desc="eval valid")
        line = {"n_epochs": n_epochs, "n_updates": self.n_updates, "tr_cost": tr_cost,
                "va_cost": va_cost}
        for m in task.metrics:
            line["tr_" + m.name] = tr_m[m.name]
            line["va_" + m.name] = va_m[m.name]
        self.logger.log(**line)
        if self.writer is not None:
            with self.writer.as_default(step=self.n_updates):
                scalar_summary("train/cost", tr_cost)
                scalar_summary("valid/cost", va_cost)
                for m in task.metrics:
                    scalar_summary("train/" + m.key, tr_m[m.name])
                    scalar_summary("valid/" + m.key, va_m[m.name])
            self.writer.flush()
        main = task.main_metric.name
        print("%d %d %.3f %.3f %.2f %.2f" % (n_epochs, self.n_updates, tr_cost, va_cost,
                                             tr_m[main], va_m[main]))
        sys.stdout.flush()
        if va_m[main] > self.best:
            self.best = va_m[main]
            self.save_best()

    def end_epoch(self, n_epochs):
        self.order = None  # the next epoch draws its own

    def checkpoint(self, epoch, batch, n_updates):
        if self.chief:
            self.ckpt.save({"args": self.args, "n_updates": n_updates, "epoch": epoch,
                            "batch": batch, "order": self.order.tolist() if batch else None,
                            "rng": rng_state(), "best": self.best, "log": self.logger.lines,
                            "data": {name: enc.key for name, enc in self.data.items()}})

    def close(self):
        if self.writer is not None:
            self.writer.close()
