"""Fetch the released GPT-1 files (the upstream ``model/`` folder) into ``params/``,
or, with --task, a task's data into ``datasets/`` (finetune_lm/data/task_download.py).

    python -m finetune_lm.download [--dest DIR] [--base_url URL] [--files NAME ...]
    python -m finetune_lm.download --task NAME [NAME ...] [--dest DIR] [--base_url URL]
    python -m finetune_lm.download --list

The release files are verified by git blob id (finetune_lm/lm/release_files.py), the
tasks' archives by the size and SHA-256 pinned for each. No TensorFlow is imported.
"""

import math
import sys
import urllib.parse

from finetune_lm import flags
from finetune_lm.data import task_download
# The library (lm/release_files.py); its names stay importable from here.
from finetune_lm.lm.release_files import (DEFAULT_DEST, download, fetch_command,  # noqa: F401
                                          missing_files, missing_inputs)
from finetune_lm.model import release
from finetune_lm.util.errors import UserError, check_first, run_command
from finetune_lm.util.fetch import DEFAULT_TIMEOUT, RERUN


def run_tasks(args):
    """--task and --list: the tasks' data into --dest (datasets/)."""
    dest = args.dest or task_download.DEFAULT_DEST
    if args.files != list(release.FILES):
        raise UserError("--files names release files (the weights); it does not go with "
                        "--task or --list")
    if args.list and not args.task:
        for line in task_download.list_lines(dest):
            print(line)
        return
    if args.task == [task_download.ON_REQUEST]:
        raise UserError(task_download.rocstories_line(dest))
    done = task_download.download_tasks(args.task, dest, base_url=args.base_url,
                                        version=args.version, timeout=args.timeout,
                                        progress=not args.no_progress)
    print("%d task folder(s) verified in %s" % (len(done), dest))
    if args.list:
        for line in task_download.list_lines(dest):
            print(line)


def run(args):
    if args.task or args.list:
        return run_tasks(args)
    args.dest = args.dest or DEFAULT_DEST
    args.base_url = args.base_url or release.BASE_URL
    paths = download(args.dest, base_url=args.base_url, files=args.files,
                     progress=not args.no_progress, timeout=args.timeout)
    print("%d file(s) verified in %s" % (len(paths), args.dest))


def interrupted(args):
    if args.task or args.list:
        return ("interrupted; nothing half-unpacked was left where train.py reads; re-run `%s` "
                "(same flags) to resume" % (task_download.COMMAND % " ".join(args.task or [])))
    return "interrupted; %s" % RERUN


def check_url(flag, url):
    """A URL urllib can fetch from (http, https, ftp with a host; file), or a UserError
    naming the flag: a malformed one (`http://[::1`) fails here, not mid-download."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError as err:
        raise UserError("%s %r is not a URL (%s); expected e.g. https://host/path/"
                        % (flag, url, err)) from None
    if parts.scheme not in ("http", "https", "ftp", "file") or (
            parts.scheme != "file" and not parts.hostname):
        raise UserError("%s %r: expected an http://, https://, ftp:// URL with a host (or "
                        "file:///folder/)" % (flag, url))


def check_flags(args):
    """--timeout and --base_url, before anything is fetched."""
    if not (args.timeout > 0 and math.isfinite(args.timeout)):
        raise UserError("--timeout %s: expected a positive number of seconds" % args.timeout)
    if args.base_url is not None:
        check_url("--base_url", args.base_url)


def build_parser():
    p = flags.parser(
        release.DOWNLOAD_COMMAND,
        description="Fetch the released GPT-1 files into DEST (params/), verified by git blob "
                    "id; or, with --task, tasks' official data into DEST (datasets/), verified "
                    "by the size and SHA-256 pinned for each archive.",
        epilog="Errors (HTTP, network, a file that does not verify) stop with one `error:` "
               "line and exit status 2; so does Ctrl-C, and the same command resumes. "
               "For a from-scratch run (train.py --n_transfer -1), only the vocabulary: "
               "%s --files %s %s" % (release.DOWNLOAD_COMMAND, release.ENCODER_FILE,
                                      release.BPE_FILE))
    p.add_argument("--dest", default=None,
                   help="destination folder (default: params; with --task or --list: datasets)")
    p.add_argument("--base_url", default=None,
                   help="URL prefix the file names are appended to (default: %s; with "
                        "--task: each archive's publisher)" % release.BASE_URL)
    p.add_argument("--files", nargs="+", default=list(release.FILES), metavar="NAME",
                   choices=list(release.FILES),
                   help="fetch only these release files (default: all 13)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help="socket timeout in seconds (default: %(default)g)")
    p.add_argument("--no_progress", action="store_true", help="no progress bars")
    p.add_argument("--task", nargs="+", metavar="NAME", choices=task_download.NAMES,
                   help="fetch, verify and lay out task data instead: %s (glue: the GLUE "
                        "tasks and the diagnostic set; all: glue, snli, scitail, race; "
                        "rocstories: on request from its authors, says where to ask)"
                        % " ".join(task_download.NAMES))
    p.add_argument("--version", type=int, choices=(1, 2), default=2,
                   help="QNLI's version with --task qnli (default 2, GLUE's current; 1, the "
                        "2018 one the paper used, is no longer published)")
    p.add_argument("--list", action="store_true",
                   help="list every task's source, size and whether it is present and verified")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    _, status = check_first(check_flags, args)  # before anything is fetched
    # The downloader never starts TensorFlow.
    return status or run_command(run, args, lambda: interrupted(args), tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
