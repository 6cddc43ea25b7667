"""One exception for bad input: train.py prints its message on one line and exits 2."""

import sys

from finetune_lm.util.quiet import quiet


class UserError(Exception):
    """A problem with the user's files or flags; the message names it and what was expected."""


def check_first(check, args):
    """check(args) before TensorFlow (run_command would load it): (its result, None),
    or (None, 2) after one `error:` line. A command's cheap checks, then run_command."""
    try:
        return check(args), None
    except UserError as err:
        print("error: %s" % err, file=sys.stderr)
        return None, 2


def run_command(run, args, interrupted=None, tensorflow=True):
    """A command's main: TensorFlow kept quiet (and imported first, its start-up logs
    discarded, unless `tensorflow` is False: a command that never uses it), then
    run(args). A UserError is one `error:` line and exit status 2; so is an OSError
    while writing (a full disk: every output is replaced whole or not at all, so those
    written before it stay), and so is Ctrl-C (`interrupted()` says what is kept, e.g.
    the checkpoint to resume from).
    Returns the exit status."""
    quiet(import_tf=tensorflow)  # TensorFlow's start-up logs, unless TF_CPP_MIN_LOG_LEVEL is set
    try:
        run(args)
    except UserError as err:
        print("error: %s" % err, file=sys.stderr)
        return 2
    except OSError as err:
        if err.errno is None:
            raise
        print("error: %s: %s; every output written before it is kept whole (each is "
              "replaced whole or not at all)" % (err.filename or "an output",
                                                 err.strerror or err), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")  # past a progress bar cut short
        print("error: %s" % (interrupted() if interrupted else "interrupted"), file=sys.stderr)
        return 2
    return 0
