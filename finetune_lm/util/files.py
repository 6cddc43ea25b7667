"""Files written whole or not at all, and the checks on folders a command writes.

Every output (the jsonl log, best_params.jl, the submission, the reproduce tables, the
checkpoint pointer, the encoded inputs) is written to a temporary file in the same
folder, flushed to disk and `os.replace`d over the old one, so a kill at any moment
leaves either the previous complete version or the new one.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import tempfile

from finetune_lm.util.errors import UserError


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


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


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


def sha256_file(path, chunk=1 << 22):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


class RunLock:
    """An exclusive lock on a run's folder for the run's lifetime (`with RunLock(...)`),
    so that two runs of one --desc cannot write the same log, checkpoint and outputs.

    The lock is the kernel's (flock) on `<folder>/.lock`, which holds the holder's pid:
    it goes with the process, however it ends, so a lock file left by a dead run is
    taken over (saying so in one line on `out`); a live holder stops the second run
    with one error naming its pid. Several workers of one multi-worker run each lock
    their own file (`name`)."""

    def __init__(self, folder, what, name=".lock", out=None):
        self.path, self.what, self.out = os.path.join(folder, name), what, out
        self.fd = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise UserError("%s is in use by another run (pid %s, lock %s); expected one run "
                            "of a --desc at a time: wait for it, or use another --desc"
                            % (self.what, holder, self.path)) from None
        old = os.read(fd, 64).decode("ascii", "replace").strip()
        if old and old != str(os.getpid()):
            print("note: taking over the lock of %s from pid %s, which is no longer running"
                  % (self.what, old), file=self.out or sys.stderr)
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self.fd = fd
        return self

    def __exit__(self, *exc):
        os.ftruncate(self.fd, 0)  # no pid left behind: a later run takes it silently
        os.close(self.fd)  # releases the flock
        self.fd = None


def lock_name():
    """The lock file of this process's part of a run: `.lock`, or, for the workers after
    the first of a multi-worker run (TF_CONFIG), one of their own."""
    task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task") or {}
    kind, index = task.get("type", "chief"), int(task.get("index", 0))
    return ".lock" if (kind, index) in (("chief", 0), ("worker", 0)) else ".lock.%s%d" % (kind, index)
