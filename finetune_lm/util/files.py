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
import shutil
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


def open_permissions(folder):
    """Give `folder` and everything in it the modes the user's umask gives a new folder
    or file (0755 / 0644 under the usual 022): a temporary folder (mkdtemp, 0700) and
    files some writers make private (0600) would keep a model from a server running as
    another user."""
    mask = _umask()
    os.chmod(folder, 0o777 & ~mask)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~mask)


@contextlib.contextmanager
def named_os_error(path):
    """An OSError raised inside without a file name (a write to an open file: a full
    disk) gets `path`, so that its one line names where the output was going."""
    try:
        yield
    except OSError as err:
        if err.filename is not None or err.errno is None:
            raise
        raise OSError(err.errno, err.strerror, path) from err


@contextlib.contextmanager
def atomic_dir(out):
    """A temporary folder beside `out` to write into (yielded); on a clean exit it
    replaces `out` (what was there goes only once the new folder is in place), on an
    error it is removed and `out` is left as it was. Modes follow the umask."""
    parent = os.path.dirname(os.path.normpath(out)) or "."
    os.makedirs(parent, exist_ok=True)
    name = os.path.basename(os.path.normpath(out))
    tmp = tempfile.mkdtemp(dir=parent, prefix=".%s.tmp-" % name)
    try:
        with named_os_error(out):
            yield tmp
        open_permissions(tmp)
        old = None
        if os.path.lexists(out):
            old = tempfile.mkdtemp(dir=parent, prefix=".%s.old-" % name)
            os.replace(out, os.path.join(old, name))
        try:
            os.replace(tmp, out)
        except BaseException:
            if old is not None:
                os.replace(os.path.join(old, name), out)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(parent)


def check_target(out, flag, sources=()):
    """A folder a command replaces whole (`--out`, an export's folder): refused when it
    is the current folder or one above it, or holds one of `sources` (the folders the
    command reads: replacing it would delete them), or names a file; its parent must be
    a folder this user can write (checked before any slow work)."""
    where = os.path.realpath(out)
    for what, path in [("the current folder", os.getcwd())] + [
            ("the input %s" % p, p) for p in sources if p]:
        real = os.path.realpath(path)
        if real == where or real.startswith(where.rstrip(os.sep) + os.sep):
            raise UserError("%s %s is %s or holds it; expected a new folder to write (it is "
                            "replaced whole)" % (flag, out, what))
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError("%s %s is a file; expected a folder to write" % (flag, out))
    check_writable(os.path.dirname(os.path.normpath(out)) or ".", "%s %s: its parent" % (flag, out))


def read_stdin(what="standard input"):
    """All of standard input as text, decoded as UTF-8 (a BOM dropped): bytes that are
    not UTF-8 are one UserError naming the byte offset, not a UnicodeDecodeError."""
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserError("%s is not UTF-8 text: byte %d (0x%02x) cannot be decoded (%s); "
                        "expected UTF-8, e.g. through `iconv -t utf-8`"
                        % (what, err.start, data[err.start], err.reason)) from None


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
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                raise UserError("%s is in use by another run (pid %s, lock %s); expected one "
                                "run of a --desc at a time: wait for it, or use another --desc"
                                % (self.what, holder, self.path)) from None
            # The run before may have removed the file between our open and our flock
            # (its __exit__): then this lock is of a file no one else sees; take the new one.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
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
        # Removed while still held (nothing left in the run's folder), then released; a
        # run that opened the file just before checks it is still the one at the path.
        with contextlib.suppress(OSError):
            os.remove(self.path)
        os.close(self.fd)  # releases the flock
        self.fd = None


def lock_name():
    """The lock file of this process's part of a run: `.lock`, or, for the workers after
    the first of a multi-worker run (TF_CONFIG), one of their own."""
    task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task") or {}
    kind, index = task.get("type", "chief"), int(task.get("index", 0))
    return ".lock" if (kind, index) in (("chief", 0), ("worker", 0)) else ".lock.%s%d" % (kind, index)
