"""Atomic file writes and the resume state of a training run.

Every output of a run (the jsonl log, best_params.jl, the submission, the
reproduce tables, the checkpoint pointer) is written to a temporary file in the
same folder, flushed to disk and `os.replace`d over the old one, so a kill at any
moment leaves either the previous complete version or the new one.

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
import tempfile

import joblib
import numpy as np

from .errors import UserError

POINTER = "latest.json"
# Flags that change nothing in the results: a resumed run may differ in these.
RESUME_FREE_FLAGS = ("save_every", "unverified_weights", "cache_dir")


@contextlib.contextmanager
def atomic_open(path, mode="w", **kwargs):
    """Open a temporary file beside `path`; on a clean exit fsync it and os.replace it
    over `path`. On an error the temporary file is removed and `path` is untouched."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(folder)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder):
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path, text):
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def atomic_write_json(path, obj):
    atomic_write(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def save_params(path, arrays):
    """best_params.jl (a joblib list of arrays), written atomically."""
    with atomic_open(path, "wb") as f:
        joblib.dump(list(arrays), f)


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


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


def check_writable(folder, flag):
    """Create `folder` (and its parents) and a temporary file in it, then remove the file:
    a folder the run cannot write is refused before any slow work, naming the flag."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UserError("%s %s is a file; expected a folder to write into" % (flag, folder))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise UserError("%s %s: cannot create the folder (%s); expected a folder this user "
                        "can write" % (flag, folder, err.strerror or err)) from None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write_test.")
        os.close(fd)
        os.remove(tmp)
    except OSError as err:
        raise UserError("%s %s is not writable (%s); expected a folder this user can write"
                        % (flag, folder, err.strerror or err)) from None


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
        try:
            return read_json(path)
        except FileNotFoundError:
            return None
        except ValueError as err:  # cannot happen with atomic writes; say so clearly
            raise UserError("%s is not JSON (%s); delete %s to start over"
                            % (path, err, folder)) from None

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
                                              "finished": finished})
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
                        import shutil
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
    import tensorflow as tf
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


def scalar_summary(tag, value, step=None):
    """A TensorBoard scalar through tf.summary.write (tf.summary.scalar needs the
    tensorboard package; this writes the same event with the scalars plugin's tag)."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2
    md = summary_pb2.SummaryMetadata()
    md.plugin_data.plugin_name = "scalars"
    md.data_class = summary_pb2.DATA_CLASS_SCALAR
    return tf.summary.write(tag, tf.constant(value, tf.float32), step=step,
                            metadata=md.SerializeToString())
