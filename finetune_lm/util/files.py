"""Files written whole or not at all, and the checks on folders a command writes.

Every output (the jsonl log, best_params.jl, the submission, the reproduce tables, the
checkpoint pointer, the encoded inputs) is written to a temporary file in the same
folder, flushed to disk and `os.replace`d over the old one, so a kill at any moment
leaves either the previous complete version or the new one.
"""

import contextlib
import hashlib
import json
import os
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
