"""Pre-training's side of the loop (training/loop.py): an epoch is every full window of
the token file in an order that is a function of (seed, epoch) (a resumed run reads
the same batches); evaluations (the mean training loss since the last one, the valid
perplexity) every --eval_every updates and at each epoch end; the model written in the
released format (lm/folder.py) at each epoch end.
"""

import json
import sys

import numpy as np
import tensorflow as tf

from finetune_lm.data.corpus import window_batches, window_order
from finetune_lm.lm.folder import write_params_dir
from finetune_lm.training.loop import ResultLogger, scalar_summary


class PretrainJob:
    """The hooks of one pre-training run. data / valid: data.corpus token files (valid
    None: no valid perplexity); scorer: lm.scorer.Scorer over the state's variables;
    ckpt / meta: the RunCheckpoint and its restored state (None: a fresh run); args:
    the flags (args_dict: as the log records them); chief: whether this worker writes."""

    def __init__(self, hp, state, data, valid, scorer, ckpt, meta, args, args_dict, log_path,
                 tensorboard, chief):
        self.hp, self.state, self.data, self.valid, self.scorer = hp, state, data, valid, scorer
        self.ckpt, self.args, self.args_dict, self.chief = ckpt, args, args_dict, chief
        self.n_win = data.n_tokens // hp.n_ctx
        self.n_batches = self.n_win // hp.n_batch_train
        self.n_updates, self.epoch = 0, 0
        self.losses = [0.0, 0]  # sum and count of the training losses since the last evaluation
        self.zeroshot = None  # (updates, fn): the zero-shot heuristics' scores at those updates
        if meta is not None:
            self.n_updates, self.epoch = meta["n_updates"], meta["epoch"]
            self.losses[:] = meta["tr_losses"]
            self.logger = ResultLogger(log_path, meta["log"], chief)
        else:
            self.logger = ResultLogger(log_path, write=chief, **args_dict)
        self.writer = tf.summary.create_file_writer(tensorboard) if chief else None
        if meta is None:
            self.evaluate(0)  # the starting point

    def batches(self, epoch, first_batch):
        self.epoch = epoch
        order = window_order(self.hp.seed, epoch, self.n_win)
        ds = window_batches(self.data.path, self.data.n_tokens, self.hp.n_ctx, order,
                            self.hp.n_batch_train, first_batch, self.hp.n_vocab + self.hp.n_special)
        return ((X.numpy(),) for X in ds)

    def after_update(self, n_updates, out):
        self.n_updates = n_updates
        loss, grad_norm, lr = (float(x) for x in (out.loss, out.grad_norm, out.lr))
        self.losses[0] += loss
        self.losses[1] += 1
        if self.writer is not None:
            with self.writer.as_default(step=n_updates):
                scalar_summary("loss", loss)
                scalar_summary("perplexity", float(np.exp(min(loss, 80.0))))
                scalar_summary("learning_rate", lr)
                scalar_summary("grad_norm", grad_norm)

        if self.zeroshot is not None and n_updates in self.zeroshot[0]:
            scores = self.zeroshot[1]()
            self.logger.log(n_updates=n_updates, zeroshot=scores)
            print("zeroshot at update %d: %s" % (n_updates, ", ".join(
                "%s %.3f" % (k, v["relative"]) for k, v in scores.items())))

    def evaluate_now(self, n_updates, epoch, batch):
        every = self.args.eval_every
        return bool(every) and n_updates % every == 0 and batch < self.n_batches

    def evaluate(self, n_epochs):
        line = {"n_epochs": n_epochs, "n_updates": self.n_updates}
        if self.losses[1]:
            line["tr_loss"] = self.losses[0] / self.losses[1]
            line["tr_ppl"] = float(np.exp(line["tr_loss"]))
        if self.valid is not None:
            count, s = 0, 0.0
            for i in range(len(self.valid.files)):
                c, t = self.scorer.score(np.asarray(self.valid.file_tokens(i)), self.hp.n_ctx - 1)
                count, s = count + c, s + t
            if count:
                line["va_loss"] = s / count
                line["va_ppl"] = float(np.exp(s / count))
        self.logger.log(**line)
        if self.writer is not None:
            with self.writer.as_default(step=self.n_updates):
                for key, tag in (("tr_loss", "train/loss"), ("tr_ppl", "train/perplexity"),
                                 ("va_loss", "valid/loss"), ("va_ppl", "valid/perplexity")):
                    if key in line:
                        scalar_summary(tag, line[key])
            self.writer.flush()
        print(" ".join("%s %s" % (k, ("%.4f" % v) if isinstance(v, float) else v)
                       for k, v in line.items()))
        sys.stdout.flush()
        self.losses[:] = [0.0, 0]

    def end_epoch(self, n_epochs):
        self.epoch = n_epochs
        if self.chief:
            a = self.args
            write_params_dir(a.out, self.state.get_params(), self.hp, a.encoder_path, a.bpe_path,
                             info={"desc": a.desc, "n_updates": self.n_updates,
                                   "n_epochs": n_epochs, "corpus_tokens": self.data.n_tokens,
                                   "init_from": a.init_from})

    def checkpoint(self, epoch, batch, n_updates):
        if self.chief:
            self.ckpt.save({"args": self.args_dict, "n_updates": n_updates, "epoch": epoch,
                            "batch": batch, "best": None, "log": self.logger.lines,
                            "tr_losses": self.losses})

    def last_line(self):
        return json.loads(self.logger.lines[-1])

    def close(self):
        if self.writer is not None:
            self.writer.close()
