"""The training loop, for fine-tuning and pre-training alike, and the evaluation of a
task's split (which reads the task's declaration, never its name).

`Loop` runs the epochs of one run from wherever its checkpoint left them: for each
batch the job's inputs, one update (towers.mgpu_train), the divergence check, the
job's per-update hook, a checkpoint every `save_every` updates; at each epoch end the
job's evaluation, its outputs and a checkpoint. A job (training/finetuning.py,
training/pretraining.py) supplies the batches and the hooks; the loop owns the order
of things, the progress bar with the whole run's ETA, and the last good checkpoint.
"""

import concurrent.futures
import json
import time

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from finetune_lm.training.checkpoint import check_finite
from finetune_lm.util.files import atomic_write
from finetune_lm.util.progress import bar

OUT_OF_FIRST_EPOCH_EVALS = (1000, 2000, 4000, 8000, 16000, 32000)


class ResultLogger:
    """JSON lines: the run's arguments first, then one line per evaluation.

    The whole file is rewritten atomically at each line (a handful of lines per run),
    so a kill leaves the previous complete log. A resumed run passes the lines its
    checkpoint recorded (`lines`) and the log goes on from them."""

    def __init__(self, path, lines=None, write=True, **kwargs):
        self.path, self.write = path, write
        self.lines = list(lines or [])
        if self.lines:
            self._flush()
        else:
            self.log(**kwargs)

    def log(self, **kwargs):
        kwargs.setdefault("time", time.time())
        self.lines.append(json.dumps(kwargs))
        self._flush()

    def _flush(self):
        if self.write:
            atomic_write(self.path, "".join(line + "\n" for line in self.lines))


def iter_batches(n, n_batch, truncate):
    end = (n // n_batch) * n_batch if truncate else n
    for i in range(0, end, n_batch):
        yield slice(i, min(i + n_batch, n))


def shuffled(n):
    """This epoch's order of the training set, from the global numpy generator.

    The permutation sklearn.utils.shuffle(..., random_state=np.random) made in the
    original (newer scikit-learn refuses the module itself as random_state)."""
    idx = np.arange(n)
    np.random.shuffle(idx)
    return idx


def progress(iterable, **kwargs):
    return bar(iterable, ncols=100, **kwargs)


def batches_ahead(enc, rows_list, hp, depth=2):
    """The batches of `rows_list`, each built on a thread while the step before runs
    (numpy's copies release the GIL), so the step does not wait for its inputs."""
    pos = hp.n_vocab + hp.n_special
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = [pool.submit(enc.batch, r, hp.n_ctx, pos) for r in rows_list[:depth]]
        for i in range(len(rows_list)):
            batch = pending[i].result()
            pending[i] = None
            if i + depth < len(rows_list):
                pending.append(pool.submit(enc.batch, rows_list[i + depth], hp.n_ctx, pos))
            yield batch


def predict_split(predict, enc, hp, rows=None, desc="predict"):
    """(logits [N, n_logits], per-example losses [N] or None) over `rows` (default all),
    in batches of n_batch * n_gpu, the last one partial (the original's iter_apply)."""
    rows = np.arange(len(enc)) if rows is None else np.asarray(rows)
    n = hp.n_batch_train
    chunks = [rows[i:i + n] for i in range(0, len(rows), n)]
    logits, losses = [], []
    for X, M, Y in progress(batches_ahead(enc, chunks, hp), total=len(chunks), desc=desc):
        lg, ls = predict(X, M, Y)
        logits.append(lg)
        losses.append(ls)
    logits = np.concatenate(logits, 0)
    losses = np.concatenate(losses, 0) if enc.targets is not None else None
    return logits, losses


def scores(task, predictions, labels, groups=None):
    """{metric name: value} for every metric of the task, and per group
    ("<group> <metric>") where the task has groups."""
    out = {m.name: m.fn(predictions, labels) for m in task.metrics}
    if groups is not None and task.groups:
        groups = np.asarray(groups)
        for g in task.groups:
            sel = groups == g
            if sel.any():
                for m in task.metrics:
                    out["%s %s" % (g, m.name)] = m.fn(predictions[sel], labels[sel])
    return out


def evaluate(task, predict, enc, hp, rows=None, desc="eval"):
    """(cost, {metric: value}): the mean classification loss and the metrics."""
    logits, losses = predict_split(predict, enc, hp, rows, desc)
    labels = enc.labels if rows is None else enc.labels[np.asarray(rows)]
    preds = task.predictions(logits)
    return float(np.sum(losses)) / len(labels), scores(task, preds, labels)


def _hms(seconds):
    seconds = int(seconds)
    return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def scalar_summary(tag, value, step=None):
    """A TensorBoard scalar through tf.summary.write (tf.summary.scalar needs the
    tensorboard package; this writes the same event with the scalars plugin's tag)."""
    md = summary_pb2.SummaryMetadata()
    md.plugin_data.plugin_name = "scalars"
    md.data_class = summary_pb2.DATA_CLASS_SCALAR
    return tf.summary.write(tag, tf.constant(value, tf.float32), step=step,
                            metadata=md.SerializeToString())


class Loop:
    """The epochs of one run. step: towers.mgpu_train's function, returning a
    towers.StepOutput (loss, outputs, grad_norm, lr); job: the run's hooks:

    - batches(epoch, first_batch): the epoch's batches (tuples of arrays) from first_batch;
    - after_update(n_updates, out): TensorBoard, running figures;
    - evaluate_now(n_updates, epoch, batch): an evaluation after this update (batch:
      the epoch's batches done), besides the epoch end's?
    - evaluate(n_epochs): log the evaluation after n_epochs completed epochs;
    - end_epoch(n_epochs): the epoch's outputs (the pre-trained model), or nothing;
    - checkpoint(epoch, batch, n_updates): save the resume state at that position.
    """

    def __init__(self, step, job, n_epochs, n_batches, save_every=0, ckpt_dir=None,
                 last_saved=None):
        self.step, self.job = step, job
        self.n_epochs, self.n_batches, self.save_every = n_epochs, n_batches, save_every
        self.ckpt_dir, self.last_saved = ckpt_dir, last_saved
        self.n_updates = 0

    def _checkpoint(self, epoch, batch):
        self.job.checkpoint(epoch, batch, self.n_updates)
        self.last_saved = self.n_updates

    def run(self, n_updates=0, first_epoch=0, first_batch=0):
        """Epochs first_epoch .. n_epochs - 1, the first from batch first_batch; returns
        the update count."""
        job, self.n_updates = self.job, n_updates
        n_total = self.n_batches * self.n_epochs
        t_start, n_start = None, n_updates
        for epoch in range(first_epoch, self.n_epochs):
            bar = progress(job.batches(epoch, first_batch), initial=first_batch,
                           total=self.n_batches, desc="train epoch %d/%d" % (epoch + 1, self.n_epochs))
            try:
                for batch, inputs in enumerate(bar, start=first_batch + 1):
                    out = self.step(*inputs)
                    self.n_updates += 1
                    loss, grad_norm = out.loss, out.grad_norm
                    if t_start is None:  # timed from the second update: the first compiles
                        t_start, n_start = time.time(), self.n_updates
                    elif self.n_updates > n_start:
                        per_update = (time.time() - t_start) / (self.n_updates - n_start)
                        bar.set_postfix_str("loss %.3f, run ETA %s" % (
                            loss, _hms(per_update * (n_total - self.n_updates))), refresh=False)
                    check_finite(self.n_updates, loss, grad_norm, self.ckpt_dir, self.last_saved)
                    job.after_update(self.n_updates, out)
                    # (The original also evaluated at update 1000 when it ended the epoch.)
                    if job.evaluate_now(self.n_updates, epoch, batch):
                        job.evaluate(epoch)
                    if (self.save_every and self.n_updates % self.save_every == 0
                            and batch < self.n_batches):
                        self._checkpoint(epoch, batch)
            finally:
                bar.close()  # before any error line
            first_batch = 0
            job.evaluate(epoch + 1)
            job.end_epoch(epoch + 1)
            self._checkpoint(epoch + 1, 0)
        return self.n_updates
