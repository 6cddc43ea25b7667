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

import argparse
import http.client
import os
import re
import socket
import sys
import urllib.error
import urllib.request

from . import release
from . import task_download
from .errors import UserError

DEFAULT_DEST = "params"
DEFAULT_TIMEOUT = 60.0  # seconds, for connecting and for each socket read
CHUNK = 1 << 16
USER_AGENT = "finetune_lm-download"
RERUN = "re-run `%s` (same flags) to resume" % release.DOWNLOAD_COMMAND


def _one_line(x):
    return " ".join(str(x).split())


def missing_files(dest, files=None):
    """Names in `files` that are not present in `dest`. By default: the 13 release files;
    for a folder carrying its own manifest.json (weights that are not the release), the
    weight files and whatever else the manifest lists (the vocabulary may live
    elsewhere: --encoder_path, --bpe_path)."""
    if files is None:
        from .weights import WEIGHT_FILES, read_manifest
        listed = read_manifest(dest) if os.path.isdir(dest) else None
        if listed is None:
            files = release.FILES
        else:
            files = [n for n in release.FILES if n in WEIGHT_FILES or n in listed]
            files += sorted(n for n in listed if n not in files)
    return [name for name in files if not os.path.isfile(os.path.join(dest, name))]


def data_missing(data_dir):
    """True when `data_dir` is absent or holds nothing but README files and hidden ones
    (datasets/<task>/ as the checkout ships it)."""
    if not os.path.isdir(data_dir):
        return True
    return all(n.startswith(".") or n.lower().startswith("readme") for n in os.listdir(data_dir))


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
    from .weights import WEIGHT_FILES
    needed = [] if n_transfer == -1 else list(WEIGHT_FILES)
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
    if data_missing(data_dir):
        readme = os.path.join(data_dir, "README.md")
        message = ("both the data and the model files are missing: %s holds no data (expected "
                   "%s; see %s); and %s"
                   % (data_dir, data_source,
                      readme if os.path.isfile(readme) else "datasets/README.md", message))
    return message


def _url_for(base_url, name):
    if not base_url.endswith("/"):
        base_url += "/"
    return base_url + name


def _open(url, offset, timeout, name):
    """Open `url`, asking for bytes from `offset` on when offset > 0.

    Returns the response, or None when the server says the range cannot be
    satisfied (416: the .part is as long as the file or longer)."""
    headers = {"User-Agent": USER_AGENT}
    if offset > 0:
        headers["Range"] = "bytes=%d-" % offset
    req = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset > 0:
            e.close()
            return None
        raise UserError("HTTP %d %s for %s (fetching %s; expected 200%s)" % (
            e.code, _one_line(e.reason), url, name, " or 206" if offset > 0 else ""))
    except urllib.error.URLError as e:
        raise UserError("cannot reach %s (fetching %s): %s" % (url, name, _one_line(e.reason)))
    except (socket.timeout, TimeoutError):
        raise UserError("no answer from %s within %gs (fetching %s)" % (url, timeout, name))
    except (OSError, http.client.HTTPException) as e:
        raise UserError("cannot fetch %s (fetching %s): %s" % (url, name, _one_line(e)))


def _range_start(resp):
    """First byte offset of a 206 answer, from its Content-Range header (None if unreadable)."""
    m = re.match(r"\s*bytes\s+(\d+)-", resp.headers.get("Content-Range", ""))
    return int(m.group(1)) if m else None


def _fetch(url, part, name, timeout, progress):
    """Download `url` into `part`, resuming it when it already holds bytes.

    Returns True when the bytes already in `part` were kept (a resumed fetch),
    False when the file was written from its first byte."""
    from tqdm import tqdm

    offset = os.path.getsize(part) if os.path.isfile(part) else 0
    resp = _open(url, offset, timeout, name)
    if resp is None:  # 416: nothing left to ask for that way; start over.
        os.remove(part)
        offset = 0
        resp = _open(url, 0, timeout, name)
    with resp:
        status = getattr(resp, "status", None) or 200
        if offset > 0 and status == 206 and _range_start(resp) == offset:
            mode = "ab"
        elif status in (200, 206) and (offset == 0 or status == 200):
            # No range support (or nothing to resume): take the whole body.
            mode, offset = "wb", 0
        else:
            # A 206 for a range we did not ask for: drop it and start over.
            resp.close()
            if os.path.exists(part):
                os.remove(part)
            return _fetch(url, part, name, timeout, progress)
        length = resp.headers.get("Content-Length")
        length = int(length) if length is not None and length.strip().isdigit() else None
        total = offset + length if length is not None else None
        got = 0
        try:
            f = open(part, mode)
        except OSError as e:
            raise UserError("cannot write %s: %s" % (part, _one_line(e)))
        with f, tqdm(total=total, initial=offset, desc=name, unit="B", unit_scale=True,
                     unit_divisor=1024, disable=not progress, leave=True) as bar:
            while True:
                try:
                    block = resp.read(CHUNK)
                except (socket.timeout, TimeoutError):
                    raise UserError(
                        "%s stalled for %gs after %d bytes of %s; partial download kept in %s; %s"
                        % (url, timeout, offset + got, name, part, RERUN))
                except (OSError, http.client.HTTPException) as e:
                    raise UserError(
                        "connection to %s broke after %d bytes of %s (%s); partial download "
                        "kept in %s; %s" % (url, offset + got, name, _one_line(e), part, RERUN))
                if not block:
                    break
                try:
                    f.write(block)
                except OSError as e:
                    raise UserError("cannot write %s: %s" % (part, _one_line(e)))
                got += len(block)
                bar.update(len(block))
        if length is not None and got < length:
            raise UserError(
                "connection to %s broke after %d of %d bytes of %s; partial download kept in "
                "%s; %s" % (url, offset + got, total, name, part, RERUN))
    return mode == "ab"


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
        resumed = _fetch(url, part, name, timeout, progress)
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
        raise UserError("cannot create destination folder %s: %s" % (dest, _one_line(e)))
    paths = []
    for name in files:
        path, _ = _download_one(name, _url_for(base_url, name), dest, blob_ids[name],
                                timeout, progress)
        paths.append(path)
    return paths


def main(argv=None):
    p = argparse.ArgumentParser(
        prog=release.DOWNLOAD_COMMAND,
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
    from .quiet import quiet
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
