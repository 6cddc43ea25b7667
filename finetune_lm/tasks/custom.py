"""Your own data: a task built from the command line's flags over a CSV, TSV or JSON
lines file (`python train.py --dataset custom --train_file F --text_fields A[,B]
--label_field Y ...`), and its spec, which model.json records so that predict,
export and reproduce rebuild the same Task without the flags.

Files: the header's names (a JSON line's keys) are the field names; UTF-8 (a
byte-order mark dropped). CSV is read with csv quoting; TSV without any (a field
is everything between two tabs, as GLUE's files are read), so a CSV's quoted field
with a newline in it, read as TSV, is a row of too few fields and an error naming
the line.

The input transformation: one text field is `classification`, two are
`entailment`; `--input similarity` reads a symmetric pair in both orders (STS-B's
`pair_sum` head); `--input choice` (or `--choice_fields`) is multiple choice over
the options, the text fields the context (and a question). Anything else must be
said with `--input`.

Labels: strings or integers are classes, named by the sorted values of the training
file (integers in numeric order); floats are a regression: one output, squared
error, Pearson and Spearman. A choice label is the index of the right option or its
text. Every bad input is a UserError naming the file, the line and the column,
before any encoding.

Without `--valid_file` a seeded share of the training file (`--valid_share`, 10%;
`--split_seed`) is held out for validation, as ROCStories' 374 stories are.
"""

import csv
import io
import json
import math
import os

import numpy as np

from finetune_lm.util.errors import UserError
from finetune_lm.util.options import add_options
# The modules themselves, not the package: finetune_lm/tasks/__init__.py imports this one.
import finetune_lm.tasks.metrics as M
from finetune_lm.tasks.base import Split, Submission, Task
from finetune_lm.tasks.transforms import classification, entailment, multiple_choice, similarity

NAME = "custom"  # the --dataset name of a task built from these flags
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl"}
INPUTS = ("classification", "entailment", "similarity", "choice")
LABELS = ("auto", "classes", "regression")
METRICS = {"accuracy": M.ACCURACY, "f1": M.F1, "mcc": M.MATTHEWS, "pearson": M.PEARSON,
           "spearman": M.SPEARMAN}
ID_FIELDS = ("id", "index")  # a test file's id column, unless --id_field names one
SPLIT_SEED = 1234
VALID_SHARE = 0.1
SPEC_VERSION = 1


# -- flags ----------------------------------------------------------------------------

def add_flags(p):
    """train.py's group for `--dataset custom` (and `--task_file`)."""
    g = p.add_argument_group("your own data (--dataset %s), or your own task file" % NAME)
    return add_options(g, (
        ("--train_file", "the labelled training file: .csv, .tsv or .jsonl (header names, or "
                         "JSON keys, are the field names)"),
        ("--valid_file", "the labelled validation file (default: --valid_share of the training "
                         "file held out)"),
        ("--test_file", "a file to predict with --submit (labels optional: with them, "
                        "--analysis scores it; an id/index column is written beside)"),
        ("--text_fields", "the text fields, comma-separated (choice: the context, then a "
                          "question)"),
        ("--label_field", "the label field"),
        ("--choice_fields", "the options of a multiple choice, comma-separated (implies "
                            "--input choice)"),
        ("--input", "the input transformation: %s (default: classification for one text "
                    "field, entailment for two)" % ", ".join(INPUTS)),
        ("--labels", "auto (strings, integers: classes; floats: a regression), classes or "
                     "regression", {"type": str, "default": "auto"}),
        ("--metric", "the main metric, which picks best_params.jl: %s (default: accuracy, "
                     "pearson for a regression)" % ", ".join(METRICS)),
        ("--format", "csv, tsv or jsonl (default: from each file's extension)"),
        ("--id_field", "the test file's id column for the submission (default: 'id' or "
                       "'index' where the file has one)"),
        ("--valid_share", "without --valid_file: the share of the training file held out",
         {"type": float, "default": VALID_SHARE}),
        ("--split_seed", "without --valid_file: the seed of the held-out draw",
         {"type": int, "default": SPLIT_SEED}),
        ("--task_file", "a Python file outside the package declaring TASKS = [Task(...)] "
                        "(see docs/custom_data.md); --dataset picks one of them")))


FILE_FLAGS = ("train_file", "valid_file", "test_file", "text_fields", "label_field",
              "choice_fields", "input", "metric", "format", "id_field")


def _names(value, flag):
    names = [n.strip() for n in value.split(",")] if value else []
    if any(not n for n in names):
        raise UserError("%s %r has an empty name; expected names separated by commas"
                        % (flag, value))
    return names


def spec_from_args(args):
    """The spec of `--dataset custom` from the flags: the files (absolute), the fields,
    the transformation and the labels, as model.json records them. Reads the files'
    headers and labels (no encoding): every bad input is an error here."""
    if not args.train_file:
        raise UserError("--dataset %s needs --train_file (a .csv, .tsv or .jsonl file)" % NAME)
    if not args.text_fields:
        raise UserError("--dataset %s needs --text_fields (the text columns, comma-separated)"
                        % NAME)
    if not args.label_field:
        raise UserError("--dataset %s needs --label_field (the label column)" % NAME)
    if args.format is not None and args.format not in ("csv", "tsv", "jsonl"):
        raise UserError("--format %r: expected csv, tsv or jsonl" % args.format)
    if args.labels not in LABELS:
        raise UserError("--labels %r: expected one of %s" % (args.labels, ", ".join(LABELS)))
    if not 0.0 < args.valid_share < 1.0:
        raise UserError("--valid_share %g: expected a share between 0 and 1 (0.1: 10%%)"
                        % args.valid_share)
    texts = _names(args.text_fields, "--text_fields")
    options = _names(args.choice_fields, "--choice_fields")
    mode = infer_input(args.input, texts, options)
    spec = {"version": SPEC_VERSION, "kind": NAME, "input": mode,
            "input_inferred": args.input is None, "text_fields": texts,
            "choice_fields": options, "label_field": args.label_field.strip(),
            "id_field": args.id_field, "format": args.format,
            "files": {"train": _file(args.train_file, "--train_file"),
                      "valid": _file(args.valid_file, "--valid_file"),
                      "test": _file(args.test_file, "--test_file")},
            "valid_share": None if args.valid_file else args.valid_share,
            "split_seed": None if args.valid_file else args.split_seed}
    every = texts + options + [spec["label_field"]]
    twice = sorted({n for n in every if every.count(n) > 1})
    if twice:
        raise UserError("--text_fields, --choice_fields and --label_field name %s more than "
                        "once; expected each field in one role" % ", ".join(map(repr, twice)))
    raw = _label_values(spec, "train")
    spec["labels"] = label_kind(raw, args.labels, mode)
    if spec["labels"] == "classes" and mode != "choice":
        spec["label_names"] = class_names(raw)
    else:
        spec["label_names"] = None
    spec["metric"] = main_metric(args.metric, spec)
    return spec


def _file(path, flag):
    if not path:
        return None
    if os.path.isdir(path):
        raise UserError("%s %s is a folder; expected a .csv, .tsv or .jsonl file" % (flag, path))
    if not os.path.isfile(path):
        raise UserError("%s %s: no such file" % (flag, path))
    return os.path.abspath(path)


def infer_input(given, texts, options):
    """The input transformation: the one given, else the one the fields imply."""
    if given is not None and given not in INPUTS:
        raise UserError("--input %r: expected one of %s" % (given, ", ".join(INPUTS)))
    mode = given or ("choice" if options else {1: "classification", 2: "entailment"}.get(
        len(texts)))
    if mode is None:
        raise UserError("--text_fields names %d fields (%s): which transformation is ambiguous; "
                        "expected 1 (classification) or 2 (entailment, or --input similarity), "
                        "or --input choice with --choice_fields"
                        % (len(texts), ", ".join(texts)))
    need = {"classification": (1, 1), "entailment": (2, 2), "similarity": (2, 2),
            "choice": (1, 2)}[mode]
    if not need[0] <= len(texts) <= need[1]:
        raise UserError("--input %s takes %s text field%s; --text_fields names %d (%s)"
                        % (mode, " or ".join(map(str, sorted(set(need)))),
                           "" if need == (1, 1) else "s", len(texts), ", ".join(texts)))
    if mode == "choice" and len(options) < 2:
        raise UserError("--input choice needs --choice_fields naming at least 2 options; "
                        "got %d" % len(options))
    if mode != "choice" and options:
        raise UserError("--choice_fields goes with --input choice, not --input %s" % mode)
    return mode


# -- reading the files ----------------------------------------------------------------

class Table:
    """One file's rows: header (the field names), rows [(line, {field: value})], fmt."""

    def __init__(self, path, fmt, header, rows):
        self.path, self.fmt, self.header, self.rows = path, fmt, header, rows

    def where(self, line, field):
        """"file, line L, column C (name)": where a message points."""
        if self.fmt == "jsonl":
            return "%s, line %d, key %r" % (self.path, line, field)
        return "%s, line %d, column %d (%s)" % (self.path, line, self.header.index(field) + 1,
                                                field)


def file_format(path, given=None):
    if given:
        return given
    fmt = FORMATS.get(os.path.splitext(path)[1].lower())
    if fmt is None:
        raise UserError("%s: the extension does not say the format; expected .csv, .tsv or "
                        ".jsonl, or --format csv|tsv|jsonl" % path)
    return fmt


def _text(path):
    """The file's text; bytes that are not UTF-8 are an error naming line and column."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise UserError("%s, line %d, column %d (byte %d): not UTF-8 (%r); expected a UTF-8 "
                        "text file" % (path, line, col, err.start, data[err.start:err.start + 1])) \
            from None
    return text[1:] if text.startswith("\ufeff") else text


def _check_header(path, header):
    if not header or header == [""]:
        raise UserError("%s, line 1: no header; expected the field names" % path)
    for i, name in enumerate(header):
        if name in header[:i]:
            raise UserError("%s, line 1, column %d: the header names %r twice (columns %d and "
                            "%d); expected each field name once"
                            % (path, i + 1, name, header.index(name) + 1, i + 1))


def _delimited(path, text, fmt):
    if fmt == "csv":
        reader = csv.reader(io.StringIO(text, newline=""))
        records, start = [], 1
        for fields in reader:
            records.append((start, fields))
            start = reader.line_num + 1
    else:
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        records = [(i + 1, line.rstrip("\r").split("\t")) for i, line in enumerate(lines)]
    records = [(n, f) for n, f in records if f and f != [""]]  # blank lines
    if not records:
        raise UserError("%s is empty: expected a header line and rows" % path)
    header = [h.strip() for h in records[0][1]]
    _check_header(path, header)
    rows = []
    for line, fields in records[1:]:
        if len(fields) != len(header):
            hint = ""
            if fmt == "tsv" and '"' in "\t".join(fields):
                hint = (" (a TSV is read without quotes: a quoted field with a newline or a "
                        "tab? if the file is CSV, give --format csv)")
            elif fmt == "tsv" and len(header) == 1 and "," in header[0]:
                hint = " (the header has commas: a CSV? give --format csv)"
            raise UserError("%s, line %d: %d fields, expected %d as the header has (%s)%s"
                            % (path, line, len(fields), len(header), ", ".join(header), hint))
        rows.append((line, dict(zip(header, fields))))
    return header, rows


def _pairs(path, line):
    def hook(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise UserError("%s, line %d: the object has the key %r twice; expected each "
                                "field once" % (path, line, key))
            seen.add(key)
        return dict(pairs)
    return hook


def _json_lines(path, text):
    rows, header = [], None
    for i, line in enumerate(text.split("\n")):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, object_pairs_hook=_pairs(path, i + 1))
        except json.JSONDecodeError as err:
            raise UserError("%s, line %d, column %d: not JSON (%s); expected one JSON object "
                            "per line" % (path, i + 1, err.colno, err.msg)) from None
        if not isinstance(obj, dict):
            raise UserError("%s, line %d: a JSON %s; expected one object per line"
                            % (path, i + 1, type(obj).__name__))
        if header is None:
            header = list(obj)
        rows.append((i + 1, obj))
    if header is None:
        raise UserError("%s is empty: expected JSON objects, one per line" % path)
    return header, rows


def read_table(path, fmt):
    fmt = file_format(path, fmt)
    text = _text(path)
    header, rows = _json_lines(path, text) if fmt == "jsonl" else _delimited(path, text, fmt)
    if not rows:
        raise UserError("%s has a header and no rows: expected examples" % path)
    return Table(path, fmt, header, rows)


def _need(table, fields):
    """Every field in the header (a JSON line: in every object)."""
    for name in fields:
        if name not in table.header:
            raise UserError("%s, line 1: no field %r; the header has %s"
                            % (table.path, name, ", ".join(map(repr, table.header))))
    if table.fmt == "jsonl":
        for line, obj in table.rows:
            for name in fields:
                if name not in obj:
                    raise UserError("%s, line %d: no key %r; expected the keys %s"
                                    % (table.path, line, name, ", ".join(map(repr, fields))))


_CACHE = {}


def _table(spec, split):
    path = spec["files"][split]
    key = (path, spec["format"], os.path.getmtime(path), os.path.getsize(path))
    if key not in _CACHE:
        _CACHE.clear()  # the last file only: a run reads each file twice (labels, texts)
        _CACHE[key] = read_table(path, spec["format"])
    return _CACHE[key]


def _label_values(spec, split):
    """[(where, raw value)] of a split file's label column."""
    table = _table(spec, split)
    _need(table, [spec["label_field"]])
    field = spec["label_field"]
    return [(table.where(line, field), row[field]) for line, row in table.rows]


# -- labels ---------------------------------------------------------------------------

def value_kind(value):
    """"int", "float" or "str" of a label as written (a JSON number, or a CSV string)."""
    if isinstance(value, bool):
        return "str"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if value is None or isinstance(value, (list, dict)):
        return "other"
    s = value.strip()
    try:
        int(s)
        return "int"
    except ValueError:
        pass
    try:
        return "float" if math.isfinite(float(s)) else "str"
    except ValueError:
        return "str"


def class_name(value):
    """A class's name as recorded: an integer's decimal digits, a string stripped."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value_kind(value) == "int":
        return str(int(value.strip() if isinstance(value, str) else value))
    return str(value).strip()


def label_kind(raw, given, mode):
    """"classes" or "regression" of the training file's labels [(where, value)]."""
    for where, value in raw:
        if value_kind(value) == "other" or (isinstance(value, str) and not value.strip()):
            raise UserError("%s: label %r; expected a class or a number" % (where, value))
    kinds = [value_kind(v) for _, v in raw]
    if mode == "choice":
        if given == "regression":
            raise UserError("--labels regression does not go with --input choice (its label "
                            "is the right option)")
        return "classes"
    if given == "classes":
        return "classes"
    if given == "regression" or "float" in kinds:
        for (where, value), k in zip(raw, kinds):
            if k == "str":
                raise UserError("%s: label %r is not a number; expected a number, as the "
                                "regression's labels are (%s)"
                                % (where, value, "--labels regression" if given == "regression"
                                   else "floats from line %s" % raw[kinds.index("float")][0]
                                   .split(", line ")[1].split(",")[0]))
        return "regression"
    if len(set(kinds)) > 1:
        first = kinds[0]
        i = next(i for i, k in enumerate(kinds) if k != first)
        raise UserError("%s: label %r is %s, but %s: label %r is %s; expected one type in the "
                        "label column (--labels classes reads them all as class names)"
                        % (raw[i][0], raw[i][1], _kind_words(kinds[i]), raw[0][0], raw[0][1],
                           _kind_words(first)))
    return "classes"


def _kind_words(kind):
    return {"int": "an integer", "float": "a number", "str": "a string"}[kind]


def class_names(raw):
    """The sorted class names of the training labels (integers in numeric order)."""
    names = sorted({class_name(v) for _, v in raw})
    if all(value_kind(n) == "int" for n in names):
        names = sorted(names, key=int)
    if len(names) < 2:
        raise UserError("%s: every label is %r; expected at least 2 classes (or floats, a "
                        "regression)" % (raw[0][0].split(", line ")[0], names[0]))
    return names


def main_metric(given, spec):
    allowed = available_metrics(spec)
    if given is None:
        return allowed[0]
    if given not in allowed:
        raise UserError("--metric %r: expected one of %s for %s" % (
            given, ", ".join(allowed), "a regression" if spec["labels"] == "regression" else
            "%s classes" % ("two" if spec["label_names"] and len(spec["label_names"]) == 2
                            else "these")))
    return given


def available_metrics(spec):
    if spec["labels"] == "regression":
        return ["pearson", "spearman"]
    if spec["label_names"] and len(spec["label_names"]) == 2:
        return ["accuracy", "f1", "mcc"]
    return ["accuracy"]


def parse_labels(spec, split, table, options=None):
    """The labels of a labelled split: class indices [N] int64 or scores [N] float32."""
    field = spec["label_field"]
    out = []
    for line, row in table.rows:
        where, value = table.where(line, field), row[field]
        if spec["input"] == "choice":
            out.append(_choice_index(value, [row[o] for o in options], options, where))
        elif spec["labels"] == "regression":
            if value_kind(value) not in ("int", "float"):
                raise UserError("%s: label %r is not a number; expected a number (a regression)"
                                % (where, value))
            out.append(float(value))
        else:
            name = class_name(value) if value_kind(value) != "other" else value
            if name not in spec["label_names"]:
                raise UserError("%s: label %r is not a class of the training file %s; expected "
                                "one of %s" % (where, value, spec["files"]["train"],
                                               ", ".join(spec["label_names"])))
            out.append(spec["label_names"].index(name))
    return np.asarray(out, np.float32 if spec["labels"] == "regression" else np.int64)


def _choice_index(value, texts, options, where):
    if value_kind(value) == "int" and 0 <= int(class_name(value)) < len(options):
        return int(class_name(value))
    for i, text in enumerate(texts):
        if str(value).strip() == str(text).strip():
            return i
    raise UserError("%s: label %r matches no option; expected an index 0..%d or the text of "
                    "one of %s" % (where, value, len(options) - 1, ", ".join(options)))


# -- the splits and the Task ----------------------------------------------------------

def read_split(spec, split, labelled):
    """One file as a Split. labelled: True (required), False (never), None (if the file
    has the label field)."""
    table = _table(spec, split)
    fields = spec["text_fields"] + spec["choice_fields"]
    _need(table, fields)
    if labelled is None:
        labelled = spec["label_field"] in table.header
    texts = {f: [] for f in fields}
    for line, row in table.rows:
        for f in fields:
            value = row[f]
            if not isinstance(value, str):
                raise UserError("%s: a JSON %s; expected a text" % (
                    table.where(line, f), type(value).__name__))
            if not value.strip():
                raise UserError("%s: the text is empty; expected a text"
                                % table.where(line, f))
            texts[f].append(value.strip())
    labels = parse_labels(spec, split, table, spec["choice_fields"]) if labelled else None
    index = list(range(len(table.rows)))
    id_field = spec["id_field"] or next((f for f in ID_FIELDS if f in table.header), None)
    if split == "test" and id_field is not None:
        _need(table, [id_field])
        index = [str(row[id_field]).strip() for _, row in table.rows]
    return Split(texts=texts, labels=labels, index=index, source=table.path)


def held_out(n, share, seed):
    """(train rows, valid rows), each in file order: a seeded share of n rows held out."""
    n_valid = int(round(n * share))
    if n_valid < 1 or n_valid >= n:
        raise UserError("--valid_share %g of %d training rows holds out %d; expected at least 1 "
                        "and fewer than %d (or give --valid_file)" % (share, n, n_valid, n))
    order = np.random.RandomState(seed).permutation(n)
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


def load_splits(spec):
    """{split: Split} of the spec's files."""
    files = spec["files"]
    train = read_split(spec, "train", True)
    out = {}
    if files["valid"]:
        out["train"], out["valid"] = train, read_split(spec, "valid", True)
    else:
        tr, va = held_out(len(train), spec["valid_share"], spec["split_seed"])
        # The held-out rows keep their row numbers in the training file as their index.
        out["train"], out["valid"] = train.subset(tr), train.subset(va)
    if files["test"]:
        out["test"] = read_split(spec, "test", None)
    return out


def _transform(spec):
    texts, options, mode = spec["text_fields"], spec["choice_fields"], spec["input"]
    if mode == "classification":
        return classification(texts[0])
    if mode == "entailment":
        return entailment(*texts)
    if mode == "similarity":
        return similarity(*texts)
    return multiple_choice(texts[0], texts[1] if len(texts) > 1 else None, options)


def _first_column(logits):
    return np.asarray(logits)[:, 0]


def _float_targets(labels):
    return np.asarray(labels, np.float32)


def describe(spec):
    """The spec in words: the run's first lines say it."""
    mode, texts, options = spec["input"], spec["text_fields"], spec["choice_fields"]
    if mode == "classification":
        what = "classification of %s" % texts[0]
    elif mode == "choice":
        what = "choice among %s, context %s" % (", ".join(options), " + ".join(texts))
    else:
        what = ("entailment, %s then %s" if mode == "entailment" else
                "similarity of %s and %s, both orders") % tuple(texts)
    if mode == "choice":
        labels = "the right option's index"
    elif spec["labels"] == "regression":
        labels = "a regression (squared error)"
    else:
        labels = "%d classes: %s" % (len(spec["label_names"]), ", ".join(spec["label_names"]))
    valid = (spec["files"]["valid"] if spec["files"]["valid"] else
             "%g of the training file held out (seed %d)" % (spec["valid_share"],
                                                              spec["split_seed"]))
    inferred = ""
    if spec.get("input_inferred"):
        inferred = " (inferred from %s)" % ("--choice_fields" if mode == "choice" else
                                            "%d text field%s" % (len(texts), "s" * (len(texts) > 1)))
    return "input %s%s: %s; label %s: %s; main metric %s; valid: %s" % (
        mode, inferred, what, spec["label_field"], labels, spec["metric"], valid)


def task_from_spec(spec):
    """The Task of a spec (spec_from_args's, or model.json's): no file is read here."""
    mode = spec["input"]
    fields = tuple(spec["text_fields"] + spec["choice_fields"])
    regression = spec["labels"] == "regression"
    names = spec["label_names"]
    main = spec["metric"]
    metrics = tuple(METRICS[m] for m in [main] + [m for m in available_metrics(spec) if m != main])
    head, n_seq, n_out = {"classification": ("linear", 1, None), "entailment": ("linear", 1, None),
                          "similarity": ("pair_sum", 2, None),
                          "choice": ("choice", len(spec["choice_fields"]), 1)}[mode]
    if n_out is None:
        n_out = 1 if regression else len(names)
    test = spec["files"]["test"]
    stem = os.path.splitext(os.path.basename(test))[0] if test else ""
    return Task(name=NAME, folder=os.path.dirname(spec["files"]["train"]),
                source="your files (%s)" % spec["files"]["train"],
                load=lambda data_dir: load_splits(spec), fields=fields,
                transform=_transform(spec), n_seq=n_seq, head=head, n_out=n_out,
                metrics=metrics, label_names=tuple(names) if names and mode != "choice" else None,
                targets=_float_targets if regression else None,
                predict=_first_column if regression else None,
                submissions=(Submission("test", "%s_%s.tsv" % (NAME, stem)),) if test else (),
                analysis=("test",) if test and _has_labels(spec) else (),
                title="custom", spec=spec, about=describe(spec))


def _has_labels(spec):
    path = spec["files"]["test"]
    if not os.path.isfile(path):
        return False
    return spec["label_field"] in _table(spec, "test").header


def rows_file(rows, path):
    """Write rows (a list of dicts, the Python API's input) as a JSON lines file, for a
    spec; returns the path."""
    from finetune_lm.util.files import atomic_open
    if not isinstance(rows, (list, tuple)) or not rows:
        raise UserError("rows for %s: expected a non-empty list of dicts" % path)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UserError("rows for %s: row %d is a %s; expected a dict of field -> value"
                            % (path, i, type(row).__name__))
    with atomic_open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
