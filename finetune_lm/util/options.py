"""argparse options declared as rows of a table, fed to one loop: most of the commands'
options are text with no default, so a row says only what differs from that."""

TEXT = {"type": str, "default": None}  # what a row without its own keywords declares


def add_options(group, rows):
    """group: an argparse parser or argument group; rows: (flag, help) for a text option
    with no default, or (flag, help, keywords) with add_argument's own keywords (help=None:
    no help text). Returns group."""
    for flag, text, *keywords in rows:
        group.add_argument(flag, help=text, **(keywords[0] if keywords else TEXT))
    return group
