"""One exception for bad input: train.py prints its message on one line and exits 2."""


class UserError(Exception):
    """A problem with the user's files or flags; the message names it and what was expected."""


def run_command(run, args, interrupted=None):
    """A command's main: TensorFlow kept quiet, then run(args); a UserError is one
    `error:` line and exit status 2, and so is Ctrl-C (`interrupted()` says what is
    kept, e.g. the checkpoint to resume from). Returns the exit status."""
    import sys
    from .quiet import quiet
    quiet()  # TensorFlow's start-up logs, unless TF_CPP_MIN_LOG_LEVEL is set
    try:
        run(args)
    except UserError as err:
        print("error: %s" % err, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: %s" % (interrupted() if interrupted else "interrupted"), file=sys.stderr)
        return 2
    return 0
