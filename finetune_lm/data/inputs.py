"""From a task's raw splits to model inputs: BPE encoding (in parallel, cached on
disk), the task's input transformation, and batches built when they are needed.

What is kept per split is the token ids of every sequence, flat (uint16: the 40481
ids fit), and their offsets: RACE's 88k questions of four options would be 2.4 GB
as dense [N, K, 512, 2] int32 inputs plus float masks, and are about 280 MB so.
Positions and masks are made per batch (`Encoded.batch`).

The encoding (spaCy + BPE, the slow part) is cached in `cache_dir` under a key of
the texts' content and the two vocabulary files' content, so a second run starts
training at once; the transformation (cheap, and dependent on --n_ctx) is not.
"""

import concurrent.futures
import hashlib
import multiprocessing
import os
import sys
import time

import numpy as np

from finetune_lm.data.text import TextEncoder, add_special_tokens, load_encoder, vocabulary_sha256
from finetune_lm.util.errors import UserError
from finetune_lm.util import progress
from finetune_lm.util.files import atomic_open

CACHE_VERSION = 1  # bump when the encoding's output changes
PARALLEL_MIN = 4000  # fewer unique texts than this: encoded in this process
CHUNK = 2000


def cache_key(task_name, splits, encoder_path, bpe_path):
    """sha256 of the task name, every split's texts and the vocabulary files."""
    h = hashlib.sha256(b"finetune_lm encoding v%d\0%s\0" % (CACHE_VERSION, task_name.encode()))
    for path in (encoder_path, bpe_path):
        h.update(vocabulary_sha256(path).encode())
    for name in sorted(splits):
        h.update(b"\0split\0" + name.encode())
        for field in sorted(splits[name].texts):
            h.update(b"\0field\0" + field.encode())
            for text in splits[name].texts[field]:
                h.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()


_WORKER = None


def _init_worker(encoder_path, bpe_path):
    global _WORKER
    _WORKER = TextEncoder(encoder_path, bpe_path)


def _encode_chunk(texts):
    return _WORKER.encode(texts)


def encode_texts(texts, encoder_path, bpe_path, workers=None, desc="encoding", verbose=True):
    """BPE ids of each text, over `workers` processes (default: every core) when there
    are many; the same ids either way. verbose=False: no progress bar for the few
    texts encoded in this process (predict's rows: no unlabelled bar before its own)."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(texts) < PARALLEL_MIN:
        return TextEncoder(encoder_path, bpe_path).encode(texts, verbose=verbose) if texts else []
    chunks = [texts[i:i + CHUNK] for i in range(0, len(texts), CHUNK)]
    out = []
    # spawn: the parent may hold TensorFlow's threads, which fork does not carry over.
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_worker,
            initargs=(encoder_path, bpe_path)) as pool:
        bar = progress.bar(total=len(texts), desc=desc, ncols=80)
        for chunk, ids in zip(chunks, pool.map(_encode_chunk, chunks)):
            out.extend(ids)
            bar.update(len(chunk))
        bar.close()
    return out


def flatten(lists):
    """(ids [n], offsets [len + 1]) of a list of token lists: list i is ids[offsets[i]:offsets[i + 1]]."""
    lengths = np.fromiter((len(x) for x in lists), np.int64, len(lists))
    offsets = np.zeros(len(lists) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter((t for x in lists for t in x), np.int64, int(offsets[-1]))
    return flat, offsets


def encode_splits(task, splits, encoder_path, bpe_path, cache_dir=None, verbose=True):
    """{split: {field: (flat ids, offsets)}}: each text field encoded, from the cache
    when `cache_dir` holds this key. Each distinct text is encoded once (RACE's
    article is shared by its questions)."""
    key = cache_key(task.name, splits, encoder_path, bpe_path)
    path = os.path.join(cache_dir, "%s-%s.npz" % (task.name, key[:32])) if cache_dir else None
    if path and os.path.isfile(path):
        try:
            with np.load(path, allow_pickle=False) as z:
                out = {}
                for name in splits:
                    out[name] = {f: (z["%s/%s/ids" % (name, f)], z["%s/%s/offsets" % (name, f)])
                                 for f in task.fields}
            if verbose:
                print("encoding: cached in %s" % path)
            return out
        except (KeyError, ValueError, OSError, EOFError):
            pass  # a damaged or older cache file: encode again and replace it
    t0 = time.time()
    unique = {}
    for split in splits.values():
        for field in task.fields:
            for text in split.texts[field]:
                unique.setdefault(text, len(unique))
    texts = list(unique)
    ids = encode_texts(texts, encoder_path, bpe_path, desc="encoding %s" % task.name,
                       verbose=verbose)
    out = {}
    for name, split in splits.items():
        out[name] = {}
        for field in task.fields:
            out[name][field] = flatten([ids[unique[t]] for t in split.texts[field]])
    if verbose:
        print("encoding: %d texts (%d distinct) in %.1f s" % (
            sum(len(s) * len(task.fields) for s in splits.values()), len(texts),
            time.time() - t0))
    if path:
        arrays = {}
        for name in out:
            for f, (flat, offsets) in out[name].items():
                arrays["%s/%s/ids" % (name, f)] = flat.astype(np.uint16)
                arrays["%s/%s/offsets" % (name, f)] = offsets
        try:
            with atomic_open(path, "wb") as fh:
                np.savez(fh, **arrays)
        except OSError as err:  # a cache that cannot be written only costs time
            print("encoding: could not write the cache %s (%s)" % (path, err), file=sys.stderr)
    return out


class Encoded:
    """One split ready for the model: the transformed token sequences, flat, K per
    example, and the labels (None: an unlabelled test set)."""

    def __init__(self, tokens, offsets, n_seq, labels, targets, index, groups=None):
        self.tokens, self.offsets, self.n_seq = tokens, offsets, n_seq
        self.labels, self.targets, self.index, self.groups = labels, targets, index, groups

    def __len__(self):
        return (len(self.offsets) - 1) // self.n_seq

    @property
    def longest(self):
        return int(np.max(np.diff(self.offsets))) if len(self.offsets) > 1 else 0

    def batch(self, rows, n_ctx, pos_offset):
        """X [B, K, n_ctx, 2] int32 (token ids 0-padded, position ids), M [B, K, n_ctx]
        float32 (1 on real tokens), Y the targets of `rows` (None without labels)."""
        rows = np.asarray(rows)
        k = self.n_seq
        X = np.zeros((len(rows), k, n_ctx, 2), np.int32)
        M = np.zeros((len(rows), k, n_ctx), np.float32)
        for b, r in enumerate(rows):
            for j in range(k):
                s, e = self.offsets[r * k + j], self.offsets[r * k + j + 1]
                X[b, j, :e - s, 0] = self.tokens[s:e]
                M[b, j, :e - s] = 1
        X[:, :, :, 1] = np.arange(pos_offset, pos_offset + n_ctx)
        Y = None if self.targets is None else self.targets[rows]
        return X, M, Y


UNCUT = 1 << 30  # a context no input fills: the transformation's output uncut


def transform_split(task, fields, split, specials, n_ctx_flag, n_ctx_model=None):
    """Apply the task's transformation to every example of one encoded split. The
    Encoded also counts what the user should know of: `truncated` examples (any of
    their sequences cut to fit), `max_dropped` (the most tokens cut from one sequence)
    and `empty` examples (a text field that encodes to no token).

    n_ctx_model: a trained model's context (after training: predict, the Python API).
    An example whose sequences exceed it at n_ctx_flag is transformed again at
    n_ctx_model, so that it fits the model's positions."""
    n = len(split)
    sequences = []
    truncated, max_dropped, empty = 0, 0, 0
    for i in range(n):
        ids = {f: fields[f][0][fields[f][1][i]:fields[f][1][i + 1]].tolist() for f in task.fields}
        seqs = task.transform(ids, specials, n_ctx_flag)
        if n_ctx_model is not None and max(len(q) for q in seqs) > n_ctx_model:
            seqs = task.transform(ids, specials, n_ctx_model)
        if len(seqs) != task.n_seq:
            raise ValueError("%s's transform gave %d sequences; expected n_seq %d"
                             % (task.name, len(seqs), task.n_seq))
        # The same transformation with room for everything says what was cut.
        dropped = max(len(u) - len(s) for u, s in zip(task.transform(ids, specials, UNCUT), seqs))
        if dropped > 0:
            truncated += 1
            max_dropped = max(max_dropped, dropped)
        empty += any(not v for v in ids.values())
        sequences.extend(seqs)
    tokens, offsets = flatten(sequences)
    labels = split.labels
    targets = None if labels is None else task.target_array(labels)
    enc = Encoded(tokens.astype(np.uint16 if tokens.size == 0 or tokens.max() < 65536
                                else np.int32), offsets, task.n_seq, labels, targets,
                  split.index, split.groups)
    enc.truncated, enc.max_dropped, enc.empty = truncated, max_dropped, empty
    return enc


def encode_for_model(task, split, encoder_path, bpe_path, n_ctx_flag, n_ctx_model):
    """One split for a trained model (predict, the Python API): encoded as training
    encodes (encode_splits, no cache, no lines on stdout) and transformed as training
    transforms at the run's --n_ctx, again at the model's context where it is exceeded
    (transform_split)."""
    specials = add_special_tokens(load_encoder(encoder_path))
    fields = encode_splits(task, {"rows": split}, encoder_path, bpe_path, verbose=False)["rows"]
    return transform_split(task, fields, split, specials, n_ctx_flag, n_ctx_model)


def split_key(task, split):
    """SHA-256 of one split's texts, labels and ids: what a run records of its data, so
    that a finished or resumed run whose files changed is told apart."""
    h = hashlib.sha256(task.name.encode("utf-8"))
    for field in task.fields:
        h.update(("\0%s\0" % field).encode("utf-8"))
        for text in split.texts[field]:
            h.update(text.encode("utf-8") + b"\0")
    h.update(b"\0labels\0" + (b"" if split.labels is None else np.asarray(split.labels).tobytes()))
    h.update(b"\0index\0" + "\0".join(map(str, split.index)).encode("utf-8"))
    return h.hexdigest()


def input_report(encoded, n_ctx_flag):
    """{split: {"examples", "truncated", "max_dropped", "empty"}} of prepare_task's
    splits, and the lines that say it (none when nothing was cut or empty)."""
    report, lines = {}, []
    for name, enc in encoded.items():
        report[name] = {"examples": len(enc), "truncated": enc.truncated,
                        "max_dropped": enc.max_dropped, "empty": enc.empty}
        if enc.truncated:
            lines.append("%s: %d of %d examples cut to fit --n_ctx %d (at most %d tokens cut "
                         "from one sequence)" % (name, enc.truncated, len(enc), n_ctx_flag,
                                                 enc.max_dropped))
        if enc.empty:
            lines.append("%s: %d of %d examples have a text that encodes to no token"
                         % (name, enc.empty, len(enc)))
    return report, lines


def prepare_task(task, splits, encoder_path, bpe_path, n_ctx_flag, cache_dir=None,
                 verbose=True):
    """(n_vocab, n_ctx, specials, {split: Encoded}): the model's context is the longest
    transformed sequence over every split, capped at --n_ctx (docs/fidelity.md, "ROCStories")."""
    vocab = load_encoder(encoder_path)
    n_vocab = len(vocab)
    specials = add_special_tokens(vocab)
    fields = encode_splits(task, splits, encoder_path, bpe_path, cache_dir, verbose)
    encoded = {name: transform_split(task, fields[name], splits[name], specials, n_ctx_flag)
               for name in splits}
    for name, enc in encoded.items():
        enc.key = split_key(task, splits[name])
    for name, enc in encoded.items():
        if enc.longest > n_ctx_flag:
            raise ValueError("%s's transform made a sequence of %d tokens in %s; --n_ctx is %d"
                             % (task.name, enc.longest, name, n_ctx_flag))
    n_ctx = min(max(enc.longest for enc in encoded.values()), n_ctx_flag)
    return n_vocab, n_ctx, specials, encoded


def check_splits(task, splits, data_dir):
    """The splits the loop reads are there and not empty."""
    for name in ("train", "valid"):
        if name not in splits or len(splits[name]) == 0:
            raise UserError("%s: the %s split of %s is empty: expected examples"
                            % (data_dir, name, task.name))
        if splits[name].labels is None:
            raise UserError("%s: the %s split of %s has no labels" % (data_dir, name, task.name))
    for sub in task.submissions:
        if sub.split in splits and len(splits[sub.split]) == 0:
            raise UserError("%s: the %s split of %s is empty: expected examples to predict"
                            % (splits[sub.split].source or data_dir, sub.split, task.name))
