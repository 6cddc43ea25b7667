"""The resume state of a training run (fine-tuning or pre-training), written whole or
not at all (util/files.py).

A run's checkpoint (`save_dir/<desc>/checkpoint/`) is a `tf.train.Checkpoint` of
the parameters, Adam's m, v and t (the update count, which also fixes the dropout
seeds) and one string variable holding the rest of the state as JSON: the global
numpy RNG state, the best valid accuracy so far, the epoch, the epoch's order of
the training set and the index of its next batch, the run's arguments and the
log lines written so far. Each save writes a new prefix `ckpt-<update>`; then
`latest.json` is replaced atomically to name it, and older prefixes are deleted.
A kill during a save leaves `latest.json` naming the previous complete one.
"""

import contextlib
import glob
import json
import os
import shutil

import joblib
import numpy as np

from finetune_lm.util import records
from finetune_lm.util.errors import UserError
from finetune_lm.util.files import atomic_open, atomic_write_json, read_json

POINTER = "latest.json"
# latest.json, the record of the last complete checkpoint (RunCheckpoint.save writes it).
POINTER_SCHEMA = {
    "prefix": records.Field((str,), "the checkpoint's prefix, ckpt-<update>",
                            test=lambda v: v.startswith("ckpt-")),
    "n_updates": records.integer("a non-negative integer (updates done)"),
    "epoch": records.integer("a non-negative integer (the epoch)"),
    "batch": records.integer("a non-negative integer (the epoch's next batch)"),
    "best": records.number("a number (the best valid score)", nullable=True),
    "args": records.Field((dict,), "an object (the run's arguments)"),
    "data": records.Field((dict,), "an object {split: key}", required=False, nullable=True),
    "finished": records.flag(),
}
# Flags that change nothing in the results, of every command: a resumed run may differ
# in these. (Device placement changes an update by float round-off only; --out only
# where the model is written; --submit, --analysis and --submission_dir only what is
# made from best_params.jl at the end, which every run keeps.)
RESUME_FREE_FLAGS = ("save_every", "unverified_weights", "cache_dir", "workers", "cpu_devices",
                     "out", "submit", "analysis", "submission_dir")


def save_params(path, arrays):
    """best_params.jl (a joblib list of arrays), written atomically."""
    with atomic_open(path, "wb") as f:
        joblib.dump(list(arrays), f)


def _same_value(key, a, b):
    """Path flags (names ending in _dir or _path) compare as normalised paths:
    `save/` and `save`, `./data` and `data` name the same folder."""
    if a == b:
        return True
    if key.endswith(("_dir", "_path")) and isinstance(a, str) and isinstance(b, str) and a and b:
        return os.path.normpath(a) == os.path.normpath(b)
    return False


def differing_flags(saved, current, free=RESUME_FREE_FLAGS):
    """'--flag saved -> current' for each argument that differs (ignoring `free`)."""
    out = []
    for key in sorted(set(saved) | set(current)):
        if key in free:
            continue
        a, b = saved.get(key), current.get(key)
        if not _same_value(key, a, b):
            out.append("--%s %s -> %s" % (key, json.dumps(a), json.dumps(b)))
    return out


def check_same_args(saved, current, where):
    diff = differing_flags(saved, current)
    if diff:
        raise UserError("%s was made with other arguments (%s); run with the same arguments "
                        "to resume, or use another --desc / delete it to start over"
                        % (where, "; ".join(diff)))


def interrupted_message(ckpt_dir):
    """The one line for Ctrl-C: where the same command goes on from."""
    try:
        pointer = RunCheckpoint.read_pointer(ckpt_dir)
    except UserError:
        pointer = None
    if pointer is not None:
        return ("interrupted; re-run the same command to resume from %s (update %d)"
                % (ckpt_dir, pointer["n_updates"]))
    return ("interrupted before the first checkpoint (%s); re-run the same command to start "
            "again" % ckpt_dir)


def rng_state():
    """The global numpy generator's state as JSON-able values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return [kind, [int(k) for k in keys], int(pos), int(has_gauss), float(gauss)]


def set_rng_state(state):
    kind, keys, pos, has_gauss, gauss = state
    np.random.set_state((kind, np.asarray(keys, np.uint32), pos, has_gauss, gauss))


def _first_line(err):
    text = str(err).strip()
    return text.splitlines()[0] if text else ""


class RunCheckpoint:
    """The resume state of one run in `folder`, over the TrainState's variables."""

    def __init__(self, folder, state):
        # TensorFlow here, not at the top: the commands read pointers and compare flags
        # (Resume.pointer, interrupted_message) before anything starts TensorFlow.
        import tensorflow as tf
        self.folder = folder
        self.meta = tf.Variable("", dtype=tf.string, trainable=False, name="run_state")
        self.ckpt = tf.train.Checkpoint(params=list(state.params.values()), m=list(state.m),
                                        v=list(state.v), t=state.t, run_state=self.meta)

    @property
    def pointer_path(self):
        return os.path.join(self.folder, POINTER)

    def pointer(self):
        return self.read_pointer(self.folder)

    @staticmethod
    def read_pointer(folder):
        """The contents of latest.json, or None when no complete checkpoint exists."""
        path = os.path.join(folder, POINTER)
        if not os.path.exists(path):
            return None
        try:  # damaged or edited (atomic writes do not leave it half written)
            return records.read(path, POINTER_SCHEMA, "the record of the last checkpoint")
        except UserError as err:
            raise UserError("%s; delete %s to start over" % (err, folder)) from None

    def save(self, meta, finished=False):
        """Write a checkpoint of the variables and `meta` (a JSON-able dict)."""
        n_updates = int(meta["n_updates"])
        os.makedirs(self.folder, exist_ok=True)
        prefix = "ckpt-%d" % n_updates
        path = os.path.join(self.folder, prefix)
        old = self.pointer()
        if old and old["prefix"] == prefix:
            # Re-saving the same update (e.g. the run's end): write beside it first.
            prefix = "ckpt-%d-b" % n_updates
            path = os.path.join(self.folder, prefix)
        self.meta.assign(json.dumps(meta))
        try:
            self.ckpt.write(path)
        except Exception as err:  # a full disk (ResourceExhaustedError), a lost folder
            # What this save wrote (ckpt-N.*, TF's ckpt-N_temp/) goes: it would keep a
            # full disk full; latest.json still names the last complete checkpoint.
            self._clean(keep=old["prefix"] if old else None)
            kept = ("the last complete checkpoint, %s (update %d), is kept"
                    % (old["prefix"], old["n_updates"]) if old else "no checkpoint was saved before")
            raise UserError("could not write the checkpoint %s (%s: %s); %s in %s"
                            % (path, type(err).__name__, _first_line(err), kept,
                               self.folder)) from None
        atomic_write_json(self.pointer_path, {"prefix": prefix, "n_updates": n_updates,
                                              "epoch": meta["epoch"], "batch": meta["batch"],
                                              "best": meta["best"], "args": meta["args"],
                                              "data": meta.get("data"), "finished": finished})
        self._clean(keep=prefix)
        return path

    def mark_finished(self):
        p = self.pointer()
        p["finished"] = True
        atomic_write_json(self.pointer_path, p)

    def _clean(self, keep):
        """Delete every file of other prefixes (older saves, or a save cut short)."""
        for f in glob.glob(os.path.join(self.folder, "ckpt-*")):
            name = os.path.basename(f)
            if name.split(".")[0] != keep:
                with contextlib.suppress(OSError):
                    if os.path.isdir(f):
                        shutil.rmtree(f)
                    else:
                        os.remove(f)

    def restore(self):
        """Restore the variables of the latest checkpoint; returns (pointer, meta) or None."""
        p = self.pointer()
        if p is None:
            return None
        path = os.path.join(self.folder, p["prefix"])
        try:
            self.ckpt.read(path).assert_consumed()
        except Exception as err:  # a checkpoint of another model size, or damaged files
            raise UserError("cannot restore %s (%s: %s); delete %s to start over"
                            % (path, type(err).__name__, str(err).splitlines()[0] if str(err)
                               else "", self.folder)) from None
        return p, json.loads(self.meta.numpy().decode("utf-8"))


def read_checkpoint(folder):
    """(pointer, meta, {variable path: array}) of the latest checkpoint in `folder`,
    without building a model (for inspection and tests)."""
    import tensorflow as tf  # see RunCheckpoint.__init__
    p = read_json(os.path.join(folder, POINTER))
    path = os.path.join(folder, p["prefix"])
    reader = tf.train.load_checkpoint(path)
    arrays = {}
    meta = None
    for key in reader.get_variable_to_shape_map():
        if key.startswith("run_state/"):
            meta = json.loads(reader.get_tensor(key).decode("utf-8"))
        elif key != "_CHECKPOINTABLE_OBJECT_GRAPH":
            arrays[key] = reader.get_tensor(key)
    return p, meta, arrays


class Resume:
    """Where a run starts: its beginning, or the last checkpoint in `folder`.

    `pointer()` (before any slow work) refuses a checkpoint made with other arguments
    (RESUME_FREE_FLAGS aside) and tells a finished run; `restore(state)` builds the
    RunCheckpoint over the state's variables and returns the saved meta (None: start)."""

    def __init__(self, folder, args):
        self.folder, self.args = folder, args

    def check_args(self, saved):
        check_same_args(saved, self.args, "the checkpoint %s" % self.folder)

    def pointer(self):
        pointer = RunCheckpoint.read_pointer(self.folder)
        if pointer is not None:
            self.check_args(pointer["args"])
        return pointer

    def check_data(self, saved, keys):
        """Refuse a checkpoint (or a finished run) whose data differ from `keys` ({split:
        data.inputs.split_key}), naming the splits that changed. A checkpoint made before
        the data were recorded has nothing to compare."""
        recorded = saved.get("data")
        if not recorded:
            return
        changed = sorted(set(recorded) ^ set(keys) | {s for s in keys if recorded.get(s) != keys[s]})
        if changed:
            raise UserError("the task's data changed since the checkpoint %s was made (%s: other "
                            "examples); its run and outputs are of the old data: use another "
                            "--desc, or delete %s to train again"
                            % (self.folder, ", ".join(changed), self.folder))

    def restore(self, state):
        """(RunCheckpoint, meta or None); meta's n_updates agrees with Adam's t."""
        ckpt = RunCheckpoint(self.folder, state)
        restored = ckpt.restore()
        if restored is None:
            return ckpt, None
        _, meta = restored
        self.check_args(meta["args"])
        if int(state.t.numpy()) != meta["n_updates"]:
            raise UserError("%s is inconsistent (update count %d, t %d); delete it to start over"
                            % (self.folder, meta["n_updates"], int(state.t.numpy())))
        return ckpt, meta


def resumed_line(desc, meta, n_epochs, folder):
    """The line a resumed run prints: from which update, epoch and batch of which checkpoint."""
    where = ("epoch %d, batch %d" % (meta["epoch"] + 1, meta["batch"]) if meta["epoch"] < n_epochs
             else "training done")
    return "resume: run %r from update %d (%s) of %s" % (desc, meta["n_updates"], where, folder)


def check_finite(n_updates, loss, grad_norm, ckpt_dir, last_saved):
    """Stop at the first update whose loss or gradient norm is NaN or infinite, naming
    the last good checkpoint (update `last_saved`, None: none yet)."""
    if np.all(np.isfinite(loss)) and np.isfinite(grad_norm):
        return
    kept = ("the last good checkpoint, update %d, is kept in %s" % (last_saved, ckpt_dir)
            if last_saved is not None else "no checkpoint was saved before it")
    raise UserError("training diverged at update %d: loss %s, gradient norm %s; %s"
                    % (n_updates, float(np.mean(loss)), float(grad_norm), kept))
