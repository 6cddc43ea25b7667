"""HTTP downloads that resume: a file goes to `<name>.part` with a labelled progress bar
and is resumed with a Range request after an interruption (the weights' and the task
archives' downloads, finetune_lm.download)."""

import http.client
import os
import re
import socket
import urllib.error
import urllib.request


from finetune_lm.util.errors import UserError
from finetune_lm.util.progress import bar

DEFAULT_TIMEOUT = 60.0  # seconds, for connecting and for each socket read
CHUNK = 1 << 16
USER_AGENT = "finetune_lm-download"
RERUN = "re-run `python -m finetune_lm.download` (same flags) to resume"


def one_line(x):
    return " ".join(str(x).split())


def url_for(base_url, name):
    if not base_url.endswith("/"):
        base_url += "/"
    return base_url + name


def open_url(url, offset, timeout, name):
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
            e.code, one_line(e.reason), url, name, " or 206" if offset > 0 else ""))
    except urllib.error.URLError as e:
        raise UserError("cannot reach %s (fetching %s): %s" % (url, name, one_line(e.reason)))
    except (socket.timeout, TimeoutError):
        raise UserError("no answer from %s within %gs (fetching %s)" % (url, timeout, name))
    except (OSError, http.client.HTTPException) as e:
        raise UserError("cannot fetch %s (fetching %s): %s" % (url, name, one_line(e)))


def _range_start(resp):
    """First byte offset of a 206 answer, from its Content-Range header (None if unreadable)."""
    m = re.match(r"\s*bytes\s+(\d+)-", resp.headers.get("Content-Range", ""))
    return int(m.group(1)) if m else None


def fetch(url, part, name, timeout, progress):
    """Download `url` into `part`, resuming it when it already holds bytes.

    Returns True when the bytes already in `part` were kept (a resumed fetch),
    False when the file was written from its first byte."""

    offset = os.path.getsize(part) if os.path.isfile(part) else 0
    resp = open_url(url, offset, timeout, name)
    if resp is None:  # 416: nothing left to ask for that way; start over.
        os.remove(part)
        offset = 0
        resp = open_url(url, 0, timeout, name)
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
            return fetch(url, part, name, timeout, progress)
        length = resp.headers.get("Content-Length")
        length = int(length) if length is not None and length.strip().isdigit() else None
        total = offset + length if length is not None else None
        got = 0
        try:
            f = open(part, mode)
        except OSError as e:
            raise UserError("cannot write %s: %s" % (part, one_line(e)))
        with f, bar(total=total, initial=offset, desc=name, unit="B", unit_scale=True,
                    unit_divisor=1024, disable=not progress, leave=True) as b:
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
                        "kept in %s; %s" % (url, offset + got, name, one_line(e), part, RERUN))
                if not block:
                    break
                try:
                    f.write(block)
                except OSError as e:
                    raise UserError("cannot write %s: %s" % (part, one_line(e)))
                got += len(block)
                b.update(len(block))
        if length is not None and got < length:
            raise UserError(
                "connection to %s broke after %d of %d bytes of %s; partial download kept in "
                "%s; %s" % (url, offset + got, total, name, part, RERUN))
    return mode == "ab"
