"""Progress bars (tqdm) on stderr, drawn only when stderr is a terminal: a log redirected
to a file gets the command's lines, not thousands of carriage-return redraws."""

import sys

from tqdm import tqdm


def on_terminal(stream=None):
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a stream without isatty, or closed
        return False


def bar(iterable=None, disable=False, **kwargs):
    """tqdm(iterable, **kwargs) on stderr (leave=False unless given), disabled when
    stderr is not a terminal or `disable` is true; it iterates the same either way."""
    kwargs.setdefault("file", sys.stderr)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, disable=bool(disable) or not on_terminal(kwargs["file"]), **kwargs)
