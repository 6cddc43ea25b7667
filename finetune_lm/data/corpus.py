"""A text corpus as one token file on disk: uint16 BPE ids, memory-mapped.

A BooksCorpus-sized corpus (about 800 M words) is never held as Python lists:

- Each file is read once in blocks to hash it (sha256) and to check that it is
  UTF-8 (a bad byte stops with the file's name and the byte's offset).
- The token file is named by the corpus's content (the files' hashes, in order,
  and the vocabulary's), in `cache_dir`: a second run on the same texts reuses it,
  whatever their paths.
- Files are cut at line ends (or, in a line longer than 16 units, at a space) into
  units of about `unit_bytes`; the units are encoded in parallel over the cores
  (processes, each with its own encoder), each written to its own part file as it
  finishes. A killed build goes on from the parts already written. The parts are
  then joined into `<key>.tokens`, and `<key>.json` (written last) records the
  token count and each file's range.

Tokens: each unit is encoded like one text (finetune_lm.data.text); a unit that ends a
line (or the file) is followed by the newline token, as the encoder writes a line
break. So documents separated by blank lines, or one document per file, become one
stream with a newline token between documents, as the whole file encoded at once
would (tests/test_pretrain.py checks it).
"""

import codecs
import hashlib
import json
import os
import shutil
import sys

import multiprocessing

import numpy as np
import tensorflow as tf

from finetune_lm.data.text import TextEncoder, vocabulary_sha256
from finetune_lm.util.errors import UserError
from finetune_lm.util import progress
from finetune_lm.util.files import atomic_open, atomic_write_json

FORMAT = 1
NEWLINE_PIECE = "\n</w>"
BLOCK = 1 << 22


def corpus_files(paths):
    """The files of `paths` in order; a folder stands for its files (recursively,
    sorted, hidden ones skipped)."""
    if not paths:
        raise UserError("--corpus: expected one or more text files or folders")
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = []
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [os.path.join(root, n) for n in sorted(names) if not n.startswith(".")]
            if not found:
                raise UserError("corpus folder %s holds no files; expected text files" % path)
            files += found
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise UserError("corpus file %s not found" % path)
    return files


def scan(path):
    """(sha256, bytes) of a file, checking that it is UTF-8 on the way."""
    h = hashlib.sha256()
    dec = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0
    with open(path, "rb") as f:
        while True:
            block = f.read(BLOCK)
            pending = len(dec.getstate()[0])
            try:
                dec.decode(block, final=not block)
            except UnicodeDecodeError as err:
                at = offset - pending + err.start
                raise UserError("corpus file %s is not UTF-8: byte %d (0x%02x) %s; expected "
                                "UTF-8 text" % (path, at, err.object[err.start], err.reason)
                                ) from None
            if not block:
                break
            h.update(block)
            offset += len(block)
    return h.hexdigest(), offset


def units(path, size, unit_bytes):
    """[(start, end, ends_line)] cutting the file after a newline past every
    `unit_bytes` (after a space when a line runs 16 units without one)."""
    out, start = [], 0
    with open(path, "rb") as f:
        while start < size:
            cut = start + unit_bytes
            if cut >= size:
                out.append((start, size, True))
                break
            f.seek(cut)
            end, space, scanned = None, None, 0
            while end is None:
                block = f.read(1 << 16)
                if not block:
                    break
                i = block.find(b"\n")
                if i >= 0:
                    end = cut + scanned + i + 1
                    break
                if space is None:
                    j = block.find(b" ")
                    if j >= 0:
                        space = cut + scanned + j + 1
                scanned += len(block)
                if space is not None and scanned >= 16 * unit_bytes:
                    break
            if end is not None:
                out.append((start, end, True))
                start = end
            elif space is not None and space < size:
                out.append((start, space, False))
                start = space
            else:
                out.append((start, size, True))
                break
    return out


_ENCODER = None


def _init_worker(encoder_path, bpe_path):
    global _ENCODER
    _ENCODER = TextEncoder(encoder_path, bpe_path)


def encode_unit(encoder, path, start, end, ends_line):
    """uint16 ids of bytes start..end of `path`, then the newline token if the unit
    ends a line (and holds text)."""
    with open(path, "rb") as f:
        f.seek(start)
        text = f.read(end - start).decode("utf-8")
    ids = encoder.encode([text])[0]
    if ids and ends_line:
        ids.append(encoder.encoder[NEWLINE_PIECE])
    ids = np.asarray(ids, np.int64)
    if ids.size and ids.max() > np.iinfo(np.uint16).max:
        raise UserError("token id %d does not fit the token file's uint16: expected a "
                        "vocabulary of at most 65536 entries" % ids.max())
    return ids.astype(np.uint16)


def _work(job):
    i, path, start, end, ends_line = job
    return i, encode_unit(_ENCODER, path, start, end, ends_line)


class TokenFile:
    """The token file of a corpus: `tokens` (uint16 memmap), `files` [(path, start,
    end)] each file's range of tokens, `n_tokens`, `path`, `key`, `reused`."""

    def __init__(self, path, meta, files, reused):
        self.path, self.meta, self.reused = path, meta, reused
        self.key = meta["key"]
        self.n_tokens = meta["n_tokens"]
        self.files = [(p, f["start"], f["end"]) for p, f in zip(files, meta["files"])]
        self.tokens = np.memmap(path, np.uint16, mode="r", shape=(self.n_tokens,))

    def file_tokens(self, i):
        return self.tokens[self.files[i][1]:self.files[i][2]]


def _atomic_save(path, array):
    with atomic_open(path, "wb") as f:
        array.tofile(f)


def build(paths, encoder_path, bpe_path, cache_dir, workers=None, unit_bytes=1 << 20,
          verbose=True, log=None):
    """The TokenFile of the corpus `paths` (built, or reused from cache_dir)."""
    log = log or (lambda m: print(m, file=sys.stderr))
    files = corpus_files(paths)
    scanned = []
    for path in _progress(files, verbose, "scan corpus", unit="file"):
        scanned.append(scan(path))
    if sum(size for _, size in scanned) == 0:
        raise UserError("the corpus (%s) is empty; expected UTF-8 text"
                        % ", ".join(files[:5] + (["..."] if len(files) > 5 else [])))
    vocab = [vocabulary_sha256(encoder_path), vocabulary_sha256(bpe_path)]
    key = hashlib.sha256(json.dumps({"format": FORMAT, "vocab": vocab,
                                     "files": [h for h, _ in scanned]}).encode()).hexdigest()[:32]
    os.makedirs(cache_dir, exist_ok=True)
    tokens_path = os.path.join(cache_dir, key + ".tokens")
    meta_path = os.path.join(cache_dir, key + ".json")
    if os.path.isfile(meta_path) and os.path.isfile(tokens_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if os.path.getsize(tokens_path) == 2 * meta["n_tokens"]:
            log("corpus: reusing %s (%d tokens)" % (tokens_path, meta["n_tokens"]))
            return TokenFile(tokens_path, meta, files, reused=True)

    jobs = []  # (index, path, start, end, ends_line)
    file_units = []
    for path, (_, size) in zip(files, scanned):
        first = len(jobs)
        for start, end, ends_line in units(path, size, unit_bytes):
            jobs.append((len(jobs), path, start, end, ends_line))
        file_units.append((first, len(jobs)))
    parts = os.path.join(cache_dir, "%s.parts-%d" % (key, unit_bytes))
    os.makedirs(parts, exist_ok=True)
    part = lambda i: os.path.join(parts, "%08d.u16" % i)
    todo = [j for j in jobs if not os.path.isfile(part(j[0]))]
    if len(todo) < len(jobs):
        log("corpus: resuming the encoding, %d of %d parts done" % (len(jobs) - len(todo),
                                                                     len(jobs)))
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    total = sum(j[3] - j[2] for j in todo)
    bar = _progress(None, verbose, "encode corpus", total=total, unit="B", unit_scale=True)
    if workers == 1:
        _init_worker(encoder_path, bpe_path)
        results = map(_work, todo)
    else:
        pool = multiprocessing.get_context("spawn").Pool(
            workers, initializer=_init_worker, initargs=(encoder_path, bpe_path))
        results = pool.imap_unordered(_work, todo)
    try:
        sizes = {}
        for i, ids in results:
            _atomic_save(part(i), ids)
            if bar is not None:
                bar.update(jobs[i][3] - jobs[i][2])
    finally:
        if workers > 1:
            pool.terminate()
        if bar is not None:
            bar.close()
    for i in range(len(jobs)):
        sizes[i] = os.path.getsize(part(i)) // 2
    meta_files, n = [], 0
    for (sha, size), (first, last) in zip(scanned, file_units):
        count = sum(sizes[i] for i in range(first, last))
        meta_files.append({"sha256": sha, "bytes": size, "start": n, "end": n + count})
        n += count
    if n == 0:
        raise UserError("the corpus (%s) holds no text (%d bytes of white space); expected "
                        "UTF-8 text" % (", ".join(files[:5]), sum(s for _, s in scanned)))
    tmp = tokens_path + ".tmp-%d" % os.getpid()
    with open(tmp, "wb") as out:
        for i in range(len(jobs)):
            with open(part(i), "rb") as f:
                shutil.copyfileobj(f, out, 1 << 22)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, tokens_path)
    meta = {"format": FORMAT, "key": key, "n_tokens": n, "files": meta_files, "vocab": vocab,
            "paths": [os.path.abspath(p) for p in files]}
    atomic_write_json(meta_path, meta)
    shutil.rmtree(parts, ignore_errors=True)
    return TokenFile(tokens_path, meta, files, reused=False)


def _progress(iterable, verbose, desc, **kwargs):
    if not verbose:
        return iterable
    return progress.bar(iterable, desc=desc, ncols=80, **kwargs)


# -- windows of the token file, for pre-training --------------------------------------

def n_windows(n_tokens, n_ctx):
    return n_tokens // n_ctx


def window_order(seed, epoch, n):
    """The order of the n windows in epoch `epoch` (from 0): a function of (seed, epoch),
    so a resumed run reads the same batches."""
    return np.random.default_rng([seed, epoch, 0x9E7]).permutation(n)


def window_batches(tokens_path, n_tokens, n_ctx, order, n_per_update, first_batch, pos0):
    """tf.data pipeline of an epoch's batches from `first_batch` on: X [n_per_update,
    n_ctx, 2] int32 (the windows' token ids, their position ids), read from the token
    file (memory-mapped) ahead of the step."""
    n_batches = len(order) // n_per_update
    rows = order[:n_batches * n_per_update].reshape(n_batches, n_per_update)[first_batch:]
    tokens = np.memmap(tokens_path, np.uint16, mode="r", shape=(n_tokens,))
    positions = pos0 + np.arange(n_ctx, dtype=np.int32)

    def read(idx):
        X = np.empty([len(idx), n_ctx, 2], np.int32)
        for r, w in enumerate(idx):
            X[r, :, 0] = tokens[w * n_ctx:(w + 1) * n_ctx]
        X[:, :, 1] = positions
        return X

    ds = tf.data.Dataset.from_tensor_slices(rows.astype(np.int64))
    ds = ds.map(lambda idx: tf.ensure_shape(tf.numpy_function(read, [idx], tf.int32),
                                            [n_per_update, n_ctx, 2]))
    return ds.prefetch(4)  # read ahead of the step, in tf.data's threads
