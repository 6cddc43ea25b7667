"""The training loop and evaluation, for any task: they read the task's declaration
(heads, metrics, splits) and never its name.

The loop is the original's: each epoch a permutation of the training set from the
global numpy generator, batches of n_batch * n_gpu (the last partial one dropped),
an evaluation after each epoch (and at updates 1000, 2000, 4000, ... of the first),
best_params.jl replaced on a strictly better main metric on the valid split.
"""

import json
import sys
import time

import numpy as np

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
            from .checkpoint import atomic_write
            atomic_write(self.path, "".join(line + "\n" for line in self.lines))


def iter_batches(n, n_batch, truncate):
    end = (n // n_batch) * n_batch if truncate else n
    for i in range(0, end, n_batch):
        yield slice(i, min(i + n_batch, n))


def epoch_order(n):
    """This epoch's order of the training set, from the global numpy generator.

    The permutation sklearn.utils.shuffle(..., random_state=np.random) made in the
    original (newer scikit-learn refuses the module itself as random_state)."""
    idx = np.arange(n)
    np.random.shuffle(idx)
    return idx


def progress(iterable, **kwargs):
    from tqdm import tqdm
    return tqdm(iterable, ncols=100, leave=False, file=sys.stderr, **kwargs)


def batches_ahead(enc, rows_list, hp, depth=2):
    """The batches of `rows_list`, each built on a thread while the step before runs
    (numpy's copies release the GIL), so the step does not wait for its inputs."""
    import concurrent.futures
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


class Trainer:
    """The epochs of one run, from wherever its checkpoint left them.

    state: towers.TrainState; train_step / predict: towers.mgpu_train / mgpu_predict;
    data: {split: inputs.Encoded}; on_best(): keep the current parameters;
    on_checkpoint(epoch, batch, order): save the resume state; log: ResultLogger;
    writer: a TensorBoard writer or None."""

    def __init__(self, task, hp, data, train_step, predict, log, writer=None,
                 on_best=None, on_checkpoint=None, check=None, save_every=0, best=None):
        self.task, self.hp, self.data = task, hp, data
        self.train_step, self.predict = train_step, predict
        self.logger, self.writer = log, writer
        self.on_best, self.on_checkpoint, self.check = on_best, on_checkpoint, check
        self.save_every = save_every
        self.best = task.main_metric.low if best is None else best
        self.n_updates = 0

    def log(self, n_epochs):
        from .checkpoint import scalar_summary
        task, hp = self.task, self.hp
        tr, va = self.data["train"], self.data["valid"]
        n_valid = len(va)
        # The original's train figures: the first n_valid examples, in file order.
        tr_cost, tr_m = evaluate(task, self.predict, tr, hp, np.arange(min(n_valid, len(tr))),
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
            if self.on_best:
                self.on_best()

    def train(self, n_iter, n_updates=0, first_epoch=0, first_batch=0, order=None):
        """Run epochs first_epoch .. n_iter - 1, starting at batch first_batch of the
        given order (a resumed epoch) or a fresh one."""
        from .checkpoint import scalar_summary
        hp, tr = self.hp, self.data["train"]
        self.n_updates = n_updates
        n_total = (len(tr) // hp.n_batch_train) * n_iter
        t_start, n_start = None, n_updates
        for n_epochs in range(first_epoch, n_iter):
            if order is None:
                order = epoch_order(len(tr))
            batches = [order[s] for s in iter_batches(len(tr), hp.n_batch_train, truncate=True)]
            todo = batches[first_batch:]
            bar = progress(batches_ahead(tr, todo, hp), initial=first_batch, total=len(batches),
                           desc="train epoch %d/%d" % (n_epochs + 1, n_iter))
            for i, (X, M, Y) in enumerate(bar, start=first_batch):
                _, clf_losses, grad_norm, lr = self.train_step(X, M, Y)
                self.n_updates += 1
                if t_start is None:  # timed from the second update: the first compiles
                    t_start, n_start = time.time(), self.n_updates
                elif self.n_updates > n_start:
                    per_update = (time.time() - t_start) / (self.n_updates - n_start)
                    bar.set_postfix_str("run ETA %s" % _hms(per_update * (n_total - self.n_updates)),
                                        refresh=False)
                if self.check:
                    self.check(self.n_updates, clf_losses, grad_norm)
                if self.writer is not None:
                    with self.writer.as_default(step=self.n_updates):
                        scalar_summary("learning_rate", float(lr))
                        scalar_summary("grad_norm", float(grad_norm))
                if self.n_updates in OUT_OF_FIRST_EPOCH_EVALS and n_epochs == 0:
                    self.log(n_epochs)
                if (self.save_every and self.n_updates % self.save_every == 0
                        and i + 1 < len(batches) and self.on_checkpoint):
                    self.on_checkpoint(n_epochs, i + 1, order)
            bar.close()
            first_batch, order = 0, None
            self.log(n_epochs + 1)
            if self.on_checkpoint:
                self.on_checkpoint(n_epochs + 1, 0, None)
        return self.n_updates
