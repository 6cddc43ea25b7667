"""One exception for bad input: train.py prints its message on one line and exits 2."""


class UserError(Exception):
    """A problem with the user's files or flags; the message names it and what was expected."""
