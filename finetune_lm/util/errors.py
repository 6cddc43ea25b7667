"""One exception for bad input, and the one place that turns a failure into the line a
command prints: `error: ...` and exit status 2.

- `UserError`: a problem with the user's files or flags; its message names it and what
  was expected.
- An `OSError` of the kinds a write meets (a full disk, no permission, a read-only
  filesystem, a file where a folder was expected, or the reverse): the path and the
  cause. Every output is written to a temporary file or folder and renamed into place
  (util/files.py), and each writer removes its temporaries when it fails, so what was
  at the target before is left as it was.
- `MemoryError`: the batch or the model did not fit; says which flags make them smaller.
- Ctrl-C: one line saying what is kept (`interrupted()`).

Anything else is a bug: one line says so and how to report it, and the traceback
follows, so that bugs stay visible.
"""

import errno
import os
import re
import sys

from finetune_lm.util.quiet import quiet


class UserError(Exception):
    """A problem with the user's files or flags; the message names it and what was expected."""


# The errors an output's write can meet that the user can fix (the disk, the permissions,
# the path): one line. Any other OSError (a bad file descriptor, ...) is a bug.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS,
                errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EFBIG,
                errno.ENOENT, errno.EIO}

REPORT = ("internal error (a bug in finetune_lm, not a problem with your input): please "
          "report it with the command line and the traceback below")


def os_error_line(err):
    """The line of an OSError of WRITE_ERRNOS (None for another): the path and the cause."""
    if not isinstance(err, OSError) or err.errno not in WRITE_ERRNOS:
        return None
    path = err.filename if err.filename is not None else "an output"
    if err.filename2 is not None:
        path = "%s -> %s" % (err.filename, err.filename2)
    return ("%s: %s; the temporary files were removed, and what was there before is left "
            "as it was" % (path, err.strerror or err))


def as_os_error(err, path):
    """An OSError for a library's I/O failure that carries only a message (safetensors'
    SafetensorError: '... No space left on device (os error 28)'), or None."""
    m = re.search(r"os error (\d+)", str(err))
    if not m:
        return None
    code = int(m.group(1))
    return OSError(code, os.strerror(code), path)


def error_line(err):
    """The one line (without `error: `) for an exception a command turns into exit
    status 2; None for a bug."""
    if isinstance(err, UserError):
        return str(err)
    if isinstance(err, MemoryError):
        return ("out of memory%s: expected a smaller batch (--n_batch) or model, or a machine "
                "with more memory" % (" (%s)" % err if str(err) else ""))
    return os_error_line(err)


def guarded(fn, args, interrupted=None):
    """(fn(args), 0), or (None, 2) after the one `error:` line of a UserError, a write's
    OSError, a MemoryError or Ctrl-C. Any other exception is re-raised after a line
    saying it is a bug."""
    try:
        return fn(args), 0
    except KeyboardInterrupt:
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")  # past a progress bar cut short
        print("error: %s" % (interrupted() if interrupted else "interrupted"), file=sys.stderr)
        return None, 2
    except Exception as err:
        line = error_line(err)
        if line is None:
            print("error: %s" % REPORT, file=sys.stderr)
            raise
        print("error: %s" % line, file=sys.stderr)
        return None, 2


def check_first(check, args):
    """check(args) before TensorFlow (run_command would load it): (its result, None),
    or (None, 2) after one `error:` line. A command's cheap checks, then run_command."""
    result, status = guarded(check, args)
    return result, status or None


def run_command(run, args, interrupted=None, tensorflow=True):
    """A command's main: TensorFlow kept quiet (tensorflow=False: never imported), then
    run(args) through `guarded`. Returns the exit status."""
    quiet(import_tf=tensorflow)  # TensorFlow's start-up logs, unless TF_CPP_MIN_LOG_LEVEL is set
    return guarded(run, args, interrupted)[1]


def command_main(build_parser, run, check=None):
    """A command's `main(argv=None)`: its flags parsed, then check(args) (when given)
    before TensorFlow is imported (a bad flag answers at once), then run(args) through
    `run_command`. Returns the exit status."""
    def main(argv=None):
        args = build_parser().parse_args(argv)
        if check is not None:
            _, status = check_first(check, args)
            if status:
                return status
        return run_command(run, args)

    return main
