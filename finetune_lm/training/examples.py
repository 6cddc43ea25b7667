"""Examples for a fine-tuned model from outside its task's files, and their encoding:
rows (dicts of the task's fields, the Python API's predict_rows), a TSV file with a
header or JSON lines (predict --input); a Split of them, encoded and transformed as
training does (data/inputs.encode_for_model). predict.py and finetune_lm/api.py call
these. No TensorFlow."""

import json
import os

from finetune_lm.util.errors import UserError
from finetune_lm.util.files import read_stdin

ID_COLUMNS = ("index", "id", "idx", "pairID", "guid")


def _expected(task):
    return ", ".join(task.fields)


def read_input(path, task, fmt="auto"):
    """A Split of the examples in `path` (`-`: stdin), and the name of its id column
    (None when it has none)."""
    from finetune_lm.tasks.base import Split
    where = "standard input" if path == "-" else path
    if path == "-":
        text = read_stdin()  # bytes that are not UTF-8: one line naming the byte
    else:
        if os.path.isdir(path) or not os.path.isfile(path):
            raise UserError("--input %s: %s; expected a TSV or JSON-lines file"
                            % (path, "a folder" if os.path.isdir(path) else "no such file"))
        try:
            with open(path, encoding="utf-8", newline="") as f:
                text = f.read()
        except UnicodeDecodeError as err:
            raise UserError("%s is not UTF-8 (byte %d)" % (path, err.start)) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise UserError("%s is empty: expected %s" % (where, _layout(task)))
    if fmt == "jsonl" or (fmt == "auto" and text.lstrip().startswith("{")):
        texts, ids, id_name = _read_jsonl(text, where, task)
    else:
        texts, ids, id_name = _read_tsv(text, where, task)
    if not ids:
        raise UserError("%s holds no examples: expected %s" % (where, _layout(task)))
    return Split(texts=texts, labels=None, index=ids, source=where), id_name


def _layout(task):
    return ("a TSV header naming the fields %s (and optionally an id column: %s), then one "
            "example a line; or JSON lines with those keys" % (_expected(task),
                                                               ", ".join(ID_COLUMNS)))


def _read_tsv(text, where, task):
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    header = [h.strip() for h in lines[0].rstrip("\r").split("\t")]
    missing = [f for f in task.fields if f not in header]
    if missing:
        raise UserError("%s, line 1: the header (%s) has no column %s; the task %s expects "
                        "the columns %s (and optionally an id column: %s)"
                        % (where, ", ".join(header), ", ".join(repr(m) for m in missing),
                           task.name, _expected(task), ", ".join(ID_COLUMNS)))
    col = {f: header.index(f) for f in task.fields}
    id_name = next((c for c in ID_COLUMNS if c in header), None)
    if id_name:
        col[id_name] = header.index(id_name)
    need = max(col.values()) + 1
    texts = {f: [] for f in task.fields}
    ids = []
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\r").split("\t")
        if len(fields) < need:
            raise UserError("%s, line %d: %d fields, expected %d (%s)"
                            % (where, lineno, len(fields), need, ", ".join(header)))
        for f in task.fields:
            texts[f].append(fields[col[f]].strip())
        ids.append(fields[col[id_name]].strip() if id_name else len(ids))
    return texts, ids, id_name


def _read_jsonl(text, where, task):
    numbered = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        at = "%s, line %d" % (where, lineno)
        try:
            numbered.append((at, json.loads(line)))
        except ValueError as err:
            raise UserError("%s: not JSON (%s); expected one JSON object a line with keys %s"
                            % (at, err, _expected(task))) from None
    return _row_texts(task, numbered)


def _row_texts(task, numbered):
    """(texts {field: [str]}, ids, id name) of [(where, row)], rows dicts of the task's
    fields (and optionally an id key)."""
    from finetune_lm.tasks.base import check_keys
    texts = {f: [] for f in task.fields}
    ids, id_name = [], None
    for at, row in numbered:
        check_keys(row, task.fields, at)
        for f in task.fields:
            if not isinstance(row[f], str):
                raise UserError("%s: %s is %s; expected a string" % (at, f, json.dumps(row[f])))
            texts[f].append(row[f].strip())
        if not ids:
            id_name = next((c for c in ID_COLUMNS if c in row), None)
        ids.append(row.get(id_name, len(ids)) if id_name else len(ids))
    return texts, ids, id_name


def rows_split(task, rows, where="rows"):
    """A Split of rows (dicts of the task's fields, as the JSON-lines input holds them),
    and its id key (None when the rows have none): the Python API's predict."""
    from finetune_lm.tasks.base import Split
    texts, ids, id_name = _row_texts(task, [("%s[%d]" % (where, i), row)
                                            for i, row in enumerate(rows)])
    if not ids:
        raise UserError("%s holds no examples: expected %s" % (where, _layout(task)))
    return Split(texts=texts, labels=None, index=ids, source=where), id_name


# -- encoding -----------------------------------------------------------------------------

def encode(task, split, info, encoder_path, bpe_path):
    """(inputs.Encoded, number of examples cut to fit): encoded and transformed as
    training does (data/inputs.encode_for_model: the task's transformation at the run's
    --n_ctx flag, again at the model's n_ctx where that is exceeded)."""
    from finetune_lm.data.inputs import encode_for_model
    from finetune_lm.data.text import load_encoder
    n_vocab = len(load_encoder(encoder_path))
    if n_vocab != info["n_vocab"]:
        raise UserError("%s has %d entries; the run's vocabulary (%s) has %d"
                        % (encoder_path, n_vocab, info["_path"], info["n_vocab"]))
    enc = encode_for_model(task, split, encoder_path, bpe_path, info.get("n_ctx_flag", 512),
                           info["n_ctx"])
    return enc, enc.truncated
