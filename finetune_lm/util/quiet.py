"""TensorFlow's start-up logs, quiet by default in every command.

Importing TensorFlow prints, before any message of ours, absl's "All log messages
before absl::InitializeLog() is called are written to STDERR", `I0000 ... port.cc`
(oneDNN), `cudart_stub.cc` and `cpu_feature_guard.cc` lines, and, on a machine
without a GPU, `E0000 ... failed call to cuInit`. `quiet()`, called by each entry
point before TensorFlow is imported, sets TF_CPP_MIN_LOG_LEVEL=3 (TF's C++ logs:
none below FATAL) and imports TensorFlow with the process's stderr (file descriptor 2)
sent to a temporary file, since the lines printed before absl is initialised ignore
that variable. If the import fails, what it printed is written back to stderr.

A TF_CPP_MIN_LOG_LEVEL set by the user (e.g. `TF_CPP_MIN_LOG_LEVEL=0 python train.py
...`) is left alone and nothing is hidden: TensorFlow logs as it always does.
"""

import contextlib
import os
import sys
import tempfile

ENV = "TF_CPP_MIN_LOG_LEVEL"
LEVEL = "3"
HINT = ("TensorFlow's own start-up logs are hidden; set TF_CPP_MIN_LOG_LEVEL "
        "(e.g. TF_CPP_MIN_LOG_LEVEL=0) to see them")


def quiet(import_tf=True):
    """Keep TensorFlow's C++ logs quiet unless the user set TF_CPP_MIN_LOG_LEVEL.

    With `import_tf`, TensorFlow is imported now, its start-up lines discarded.
    Returns True when this call silenced the logs."""
    if ENV in os.environ:
        return False
    os.environ[ENV] = LEVEL
    if import_tf and "tensorflow" not in sys.modules:
        with _stderr_to_file() as captured:
            try:
                import tensorflow  # noqa: F401
            except BaseException:
                captured.append(True)  # replay what the import printed
                raise
    return True


@contextlib.contextmanager
def _stderr_to_file():
    """Send file descriptor 2 to a temporary file; on a failure noted in the yielded
    list, copy the file back to stderr."""
    failed = []
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to hide
        yield failed
        return
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        os.dup2(tmp.fileno(), 2)
        try:
            yield failed
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                tmp.seek(0)
                with contextlib.suppress(OSError):
                    os.write(2, tmp.read())
