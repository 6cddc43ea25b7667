"""Fetch the released GPT-1 files (the upstream ``model/`` folder) into ``params/``,
or, with --task, a task's data into ``datasets/`` (finetune_lm/task_download.py).

    python -m finetune_lm.download [--dest DIR] [--base_url URL] [--files NAME ...]
    python -m finetune_lm.download --task NAME [NAME ...] [--dest DIR] [--base_url URL]
    python -m finetune_lm.download --list

Every file is written to ``<name>.part`` first, checked against its git blob id
(``release.BLOB_IDS``) and only then renamed to its final name, so a partial or
corrupt file never sits under the name that train.py loads.  A ``.part`` left by
an interrupted run is resumed with an HTTP Range request on the next run.
"""

import os
import sys

from finetune_lm import flags
from finetune_lm.data import task_download
from finetune_lm.model import release
from finetune_lm.lm.hf import is_hf_dir
from finetune_lm.lm.weights import WEIGHT_FILES, read_manifest
from finetune_lm.util.errors import UserError
from finetune_lm.util.fetch import DEFAULT_TIMEOUT, RERUN, fetch, one_line, url_for

DEFAULT_DEST = "params"


def missing_files(dest, files=None):
    """Names in `files` that are not present in `dest`. By default: the 13 release files;
    for a folder carrying its own manifest.json (weights that are not the release), the
    weight files and whatever else the manifest lists (the vocabulary may live
    elsewhere: --encoder_path, --bpe_path)."""
    if files is None:
        listed = read_manifest(dest) if os.path.isdir(dest) else None
        if listed is None:
            files = release.FILES
        else:
            files = [n for n in release.FILES if n in WEIGHT_FILES or n in listed]
            files += sorted(n for n in listed if n not in files)
    return [name for name in files if not os.path.isfile(os.path.join(dest, name))]


def fetch_command(dest, names):
    """The command that fetches `names` (release files) into `dest`: only the vocabulary
    files when that is all that is missing, else the whole release (466 MB)."""
    vocab = [release.ENCODER_FILE, release.BPE_FILE]
    if names and all(n in vocab for n in names):
        return "%s --files %s --dest %s" % (release.DOWNLOAD_COMMAND, " ".join(names), dest)
    return "%s --dest %s" % (release.DOWNLOAD_COMMAND, dest)


def missing_inputs(data_dir, data_source, params_dir, n_transfer, encoder_path, bpe_path):
    """What a run lacks among its weights and vocabulary, as one message (None when
    nothing is missing); with the data missing too, the message says both. (Missing
    data alone is left to the task's loader, which names each file.)"""
    needed = [] if n_transfer == -1 or is_hf_dir(params_dir) else list(WEIGHT_FILES)
    missing = [n for n in missing_files(params_dir, needed)]
    elsewhere = []
    for flag, path, name in (("--encoder_path", encoder_path, release.ENCODER_FILE),
                             ("--bpe_path", bpe_path, release.BPE_FILE)):
        if os.path.isfile(path):
            continue
        if os.path.normpath(path) == os.path.normpath(os.path.join(params_dir, name)):
            missing.append(name)
        else:
            elsewhere.append("%s %s not found" % (flag, path))
    if not missing and not elsewhere:
        return None
    missing = [n for n in release.FILES if n in missing]
    parts = []
    if missing:
        parts.append("%s is incomplete, missing %s: run `%s`%s"
                     % (params_dir, ", ".join(missing), fetch_command(params_dir, missing),
                        " (the vocabulary only: --n_transfer -1 loads no weights)"
                        if n_transfer == -1 else ""))
    parts += elsewhere
    message = "; ".join(parts)
    if task_download.data_missing(data_dir):
        readme = os.path.join(data_dir, "README.md")
        message = ("both the data and the model files are missing: %s holds no data (expected "
                   "%s; see %s); and %s"
                   % (data_dir, data_source,
                      readme if os.path.isfile(readme) else "datasets/README.md", message))
    return message


def _download_one(name, url, dest, expected, timeout, progress):
    final = os.path.join(dest, name)
    part = final + ".part"
    if os.path.isfile(final):
        got = release.git_blob_id(final)
        if got == expected:
            print("%s: present and verified, skipped" % final)
            return final, False
        print("%s: present but blob id %s != expected %s; fetching it again" % (final, got, expected))
        os.remove(final)
    for _ in range(2):
        resumed = fetch(url, part, name, timeout, progress)
        got = release.git_blob_id(part)
        if got == expected:
            os.replace(part, final)
            return final, True
        os.remove(part)
        if not resumed:
            break
        print("%s: resumed download does not verify; fetching the whole file again" % name)
    raise UserError("%s is corrupt: git blob id %s, expected %s (from %s); deleted it"
                    % (name, got, expected, url))


def download(dest=DEFAULT_DEST, base_url=release.BASE_URL, files=release.FILES, blob_ids=None,
             progress=True, timeout=DEFAULT_TIMEOUT):
    """Fetch `files` from `base_url` into `dest`, each verified against its git blob id.

    `blob_ids` (name -> git blob id) defaults to release.BLOB_IDS.  Files already
    present and verified are skipped.  Returns the final paths, in `files` order.
    Raises UserError on HTTP errors, unreachable hosts, broken connections and
    blob id mismatches."""
    blob_ids = release.BLOB_IDS if blob_ids is None else blob_ids
    files = list(files)
    unknown = [name for name in files if name not in blob_ids]
    if unknown:
        raise UserError("no git blob id known for %s; expected names among: %s"
                        % (", ".join(unknown), ", ".join(sorted(blob_ids))))
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as e:
        raise UserError("cannot create destination folder %s: %s" % (dest, one_line(e)))
    paths = []
    for name in files:
        path, _ = _download_one(name, url_for(base_url, name), dest, blob_ids[name],
                                timeout, progress)
        paths.append(path)
    return paths


def main(argv=None):
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
    args = p.parse_args(argv)
    from finetune_lm.util.quiet import quiet
    quiet(import_tf=False)  # the downloader never starts TensorFlow
    if args.task or args.list:
        return task_download.main(args, p)
    args.dest = args.dest or DEFAULT_DEST
    args.base_url = args.base_url or release.BASE_URL
    try:
        paths = download(args.dest, base_url=args.base_url, files=args.files,
                         progress=not args.no_progress, timeout=args.timeout)
    except UserError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; %s" % RERUN, file=sys.stderr)
        return 2
    print("%d file(s) verified in %s" % (len(paths), args.dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
