"""What a task declares, and the pieces its loader shares with the others.

A task is one `Task` in a small file of this package: its `--dataset` name, its
loader of the official files, its input transformation, its head, its metrics and
its submission files. The training loop, evaluation, logging, `reproduce` and
`bench` read these declarations; none of them names a task.
"""

import dataclasses
import os
from typing import Callable, Optional, Tuple

import numpy as np

from finetune_lm.util.errors import UserError


@dataclasses.dataclass
class Split:
    """One split of a task as its official files hold it, before encoding.

    texts: field name -> list of N raw strings (every field of the task's `fields`).
    labels: [N] int64 class indices (into the task's `label_names`), [N] float32
        scores (STS-B), or None when the split has no public labels.
    index: the N ids a submission file writes in its `index` column (the test
        file's own index column where it has one, else 0..N-1).
    groups: [N] strings naming a subset each example belongs to (RACE: "middle" or
        "high"), for metrics per subset; None when the task has none.
    source: where the split came from (file or folder), for messages.
    """
    texts: dict
    labels: Optional[np.ndarray]
    index: list
    groups: Optional[list] = None
    source: str = ""

    def __len__(self):
        return len(self.index)

    def subset(self, rows):
        """The examples at `rows` (a slice or index array), as a new Split."""
        pick = (lambda a: a[rows]) if isinstance(rows, slice) else (
            lambda a: [a[i] for i in rows])
        return Split(texts={k: pick(v) for k, v in self.texts.items()},
                     labels=None if self.labels is None else self.labels[rows],
                     index=pick(self.index),
                     groups=None if self.groups is None else pick(self.groups),
                     source=self.source)


def missing_split(path, what, source):
    """The error for a split file that is not there."""
    return UserError("missing %s %s: expected %r in --data_dir, from %s"
                     % (what, path, os.path.basename(path), source))


def read_text(path, what, source):
    """The whole of a split's text file, its UTF-8 byte-order mark dropped; a folder, a
    missing file or bytes that are not UTF-8 are errors naming the file."""
    if os.path.isdir(path):
        raise UserError("%s is a folder; expected the %s file, from %s" % (path, what, source))
    if not os.path.isfile(path):
        raise missing_split(path, what, source)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as err:
        raise UserError("%s is not UTF-8 (byte %d): expected the %s file, from %s"
                        % (path, err.start, what, source)) from None
    return text[1:] if text.startswith("\ufeff") else text


def check_keys(obj, keys, where):
    """A parsed JSON value must be an object holding `keys`; else an error at `where`."""
    if not isinstance(obj, dict):
        raise UserError("%s: a JSON %s, expected an object with keys %s"
                        % (where, type(obj).__name__, ", ".join(keys)))
    missing = [k for k in keys if k not in obj]
    if missing:
        raise UserError("%s: no key %s; expected keys %s"
                        % (where, ", ".join(repr(k) for k in missing), ", ".join(keys)))


def read_tsv(path, what, source, n_header=1, min_fields=1):
    """Rows of a GLUE-style TSV: (line number, fields) for each data line.

    No csv quoting (fields of STS-B, QNLI, RTE and MRPC begin with `"`: default
    quoting would merge rows); lines split on "\\n" (a final newline or not); a
    UTF-8 byte-order mark at the start of the file is dropped. `n_header` lines are
    skipped. A row with fewer than `min_fields` fields is an error naming file
    and line.
    """
    text = read_text(path, what, source)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    rows = []
    for lineno, line in enumerate(lines[n_header:], start=n_header + 1):
        fields = line.rstrip("\r").split("\t")
        if len(fields) < min_fields:
            raise UserError("%s, line %d: %d fields, expected at least %d"
                            % (path, lineno, len(fields), min_fields))
        rows.append((lineno, fields))
    return rows


def read_header(path, what, source):
    """The first line's fields (BOM dropped), for files whose columns are found by name."""
    rows = read_tsv(path, what, source, n_header=0)
    if not rows:
        raise UserError("%s is empty: expected a header line, from %s" % (path, source))
    return rows[0][1]


def label_index(value, label_names, where):
    """The index of a label string in the task's label set, or an error naming it."""
    try:
        return label_names.index(value)
    except ValueError:
        raise UserError("%s: label %r, expected one of %s"
                        % (where, value, ", ".join(label_names))) from None


@dataclasses.dataclass(frozen=True)
class Metric:
    """A figure computed from predictions and labels, in percent (as the paper prints).

    fn(predictions, labels) -> float. `low` is its least value (0 for accuracy and F1,
    -100 for a correlation): the best-so-far starts there, so the first evaluation
    above it keeps its parameters (for accuracy: the original's rule, best from 0)."""
    name: str
    fn: Callable
    low: float = 0.0
    title: str = ""  # how --analysis prints it ("Accuracy"); default the name

    @property
    def display(self):
        return self.title or self.name

    @property
    def key(self):
        """Its name in result files and reproduce's table: "accuracy", "f1", ..."""
        return self.display.lower().replace(" ", "_").replace(".", "")


@dataclasses.dataclass(frozen=True)
class Submission:
    """A test split and the file `--submit` writes for it (GLUE server format)."""
    split: str
    filename: str


@dataclasses.dataclass(frozen=True)
class Task:
    """One task of the paper: everything the loop needs, and nothing it must know.

    name: the `--dataset` name. folder: the folder its distribution unpacks to
        (`--data_dir` defaults to datasets/<folder>). source: where its files come from.
    load(data_dir) -> {split name: Split}: "train", "valid" (the split that picks
        best_params.jl), and any others ("test", "valid_mm", "test_mm", "ax", ...).
    fields: the text fields of an example, in the order they are encoded.
    transform(ids, specials, n_ctx) -> K token lists: ids maps each field to its BPE
        ids, specials is (start, delimiter, classify), n_ctx the --n_ctx flag (512).
    n_seq: K, sequences per example. head: "choice", "linear" or "pair_sum"
        (finetune_lm/model/heads.py). n_out: the head's output columns (1 for "choice").
    label_names: the strings a submission writes for each class (None: the class
        index, or a float for a regression).
    targets(labels) -> Y: what the loss reads (default: the int labels); with
        soft_targets, [N, n_out] float32.
    predict(logits) -> predictions (default: argmax).
    metrics: the metrics, the main one first (it picks best_params.jl).
    submissions: the files `--submit` writes, one per test split.
    analysis: the labelled splits `--analysis` reports besides the valid one
        (test sets with public labels, the second MNLI dev set).
    groups: subsets the metrics are also reported on (RACE: middle, high).
    split_titles: how --analysis names each split ("valid": "Valid", "test": "Test"
        unless the task says otherwise; MNLI's other splits are its own).
    spec, about: for a task built from flags or a file outside the package (tasks.custom,
        tasks.task_file): what rebuilds it from model.json, and a line saying it.
    paper: the paper's numbers, {"<split> <metric>": value}, for reproduce's table
        (split "test" of a GLUE task: the GLUE server's hidden test set).
    """
    name: str
    folder: str
    source: str
    load: Callable
    fields: Tuple[str, ...]
    transform: Callable
    n_seq: int
    head: str
    metrics: Tuple[Metric, ...]
    n_out: int = 1
    label_names: Optional[Tuple[str, ...]] = None
    targets: Optional[Callable] = None
    soft_targets: bool = False
    predict: Optional[Callable] = None
    submissions: Tuple[Submission, ...] = ()
    analysis: Tuple[str, ...] = ()
    groups: Tuple[str, ...] = ()
    paper: dict = dataclasses.field(default_factory=dict)
    title: Optional[str] = None  # how --analysis names it (default: the name)
    split_titles: dict = dataclasses.field(default_factory=dict)
    # Other reference figures for reproduce's table: {row name: (what it is, value)},
    # on the same split and metric as the first paper number.
    references: dict = dataclasses.field(default_factory=dict)
    # A task not in the table (your own data, a --task_file): how to build it again, as
    # model.json records it (tasks.task_for_run), and one line saying it (the run's
    # first lines).
    spec: Optional[dict] = None
    about: str = ""

    @property
    def display(self):
        return self.title or self.name

    def split_title(self, split):
        return self.split_titles.get(split) or {"valid": "Valid", "test": "Test"}.get(split, split)

    @property
    def main_metric(self):
        return self.metrics[0]

    def predictions(self, logits):
        return self.predict(logits) if self.predict else np.argmax(logits, -1)

    def target_array(self, labels):
        return self.targets(labels) if self.targets else np.asarray(labels, np.int32)

    def prediction_strings(self, predictions):
        """The submission's prediction column."""
        if self.label_names is not None:
            return [self.label_names[int(p)] for p in predictions]
        if np.issubdtype(np.asarray(predictions).dtype, np.floating):
            return ["%.3f" % p for p in predictions]
        return ["%d" % p for p in predictions]
