"""The eight GLUE tasks of the paper (Tables 2 and 4): CoLA, SST-2, MRPC, STS-B, QQP,
MNLI, QNLI and RTE, read from the files GLUE's download lays out (one folder per
task, `--data_dir` that folder, e.g. glue_data/RTE).

Every file is read without csv quoting (base.read_tsv: fields of STS-B, QNLI, RTE
and MRPC begin with `"`), its header's BOM dropped (MRPC), lines split on "\\n"
with or without a final newline (CoLA dev). Columns are found by their header name
where the file has a header; CoLA train/dev have none (source, label, mark,
sentence). MNLI takes its label from the last field, gold_label, as BERT's
MnliProcessor does: train has 12 columns, dev 16, and a re-annotated row may carry
more fields than its header.

Text: each field is kept as written except that surrounding whitespace is stripped
(`.strip()`, every task). SST-2 train/dev sentences end in a space before the tab
and test sentences do not; MNLI has fields with a leading or trailing space. The
BPE encoder's text_standardize strips the text anyway, so this changes no token;
it only keeps the raw strings of a split comparable with the other splits.
Characters inside a field are kept, U+FEFF included (QNLI dev has three).

Labels: class indices into the task's label set (CoLA, SST-2, MRPC, QQP: "0"/"1";
MNLI: entailment/neutral/contradiction; QNLI, RTE: entailment/not_entailment),
STS-B's 0-5 score as float32, None for the unlabelled test files. Index: the file's
own index column (`index`, or QQP's `id`, as written) where it has one, else
0..N-1; a submission writes it for the test splits.
"""

import os
import sys

import numpy as np

from finetune_lm.util.errors import UserError
from .base import Split, Submission, Task, label_index, read_tsv
from .transforms import classification, entailment, similarity
from .metrics import ACCURACY, F1, MATTHEWS, PEARSON, SPEARMAN

GLUE_URL = "https://gluebenchmark.com/tasks"

BINARY = ("0", "1")
NLI3 = ("entailment", "neutral", "contradiction")
NLI2 = ("entailment", "not_entailment")

LAST = -1  # a label column given as LAST is the row's last field (MNLI's gold_label)


def _source(folder, note=""):
    return "GLUE's download of %s (download_glue_data.py; %s%s)" % (folder, GLUE_URL, note)


def _column(header, name, path, what):
    names = [h.strip() for h in header]
    if name not in names:
        raise UserError("%s, line 1: the header (%s) has no %r column; expected the %s header"
                        % (path, ", ".join(names), name, what))
    return names.index(name)


def _load_file(path, what, source, texts, label=None, parse=None, index=None,
               headerless=None, label_name=None, dtype=np.int64):
    """One split file as a Split.

    texts: {field: column}; label, index: a column or None. A column is a header
    name, or a position when the file is `headerless` (then a string naming its
    layout, for messages). label LAST: the row's last field, and `label_name` the
    header column it stands for. parse(value, where) -> the label, of `dtype`.
    """
    rows = read_tsv(path, what, source, n_header=0)
    if headerless is None:
        if not rows:
            raise UserError("%s is empty: expected the %s file with a header line, from %s"
                            % (path, what, source))
        header, rows = rows[0][1], rows[1:]
        layout = "%s: %s" % (what, ", ".join(h.strip() for h in header))

        def pos(c):
            return c if c is None or c == LAST else _column(header, c, path, what)
        if label == LAST:
            _column(header, label_name, path, what)
    else:
        layout = "%s: %s" % (what, headerless)

        def pos(c):
            return c
    text_pos = {f: pos(c) for f, c in texts.items()}
    label_pos, index_pos = pos(label), pos(index)
    used = list(text_pos.values()) + [p for p in (label_pos, index_pos) if p not in (None, LAST)]
    need = max(used) + 1 + (label_pos == LAST)  # a last-field label follows the texts
    if not rows:
        raise UserError("%s has no examples: expected the %s file, from %s" % (path, what, source))
    out = {f: [] for f in texts}
    labels, ids = [], []
    # Rows of a file with a header have its fields, no more: a tab inside a text would
    # otherwise cut it silently. (MNLI's re-annotated rows carry extra label fields: its
    # label is the last field, LAST, and they stay as they are.)
    most = len(header) if headerless is None and label != LAST else None
    for lineno, fields in rows:
        if len(fields) < need:
            raise UserError("%s, line %d: %d fields, expected at least %d (%s)"
                            % (path, lineno, len(fields), need, layout))
        if most is not None and len(fields) > most:
            raise UserError("%s, line %d: %d fields, but the header has %d (a tab inside a "
                            "text?); expected %d (%s)" % (path, lineno, len(fields), most,
                                                          most, layout))
        for f, p in text_pos.items():
            out[f].append(fields[p].strip())
        if label_pos is not None:
            labels.append(parse(fields[label_pos].strip(), "%s, line %d" % (path, lineno)))
        ids.append(fields[index_pos].strip() if index_pos is not None else len(ids))
    y = None if label_pos is None else np.asarray(labels, dtype)
    return Split(texts=out, labels=y, index=ids, source=path)


def _classes(names):
    def parse(value, where):
        return label_index(value, names, where)
    return parse


def _score(value, where):
    """An STS-B similarity score: a number from 0 to 5."""
    try:
        y = float(value)
    except ValueError:
        y = None
    if y is None or not 0.0 <= y <= 5.0:  # also refuses nan
        raise UserError("%s: score %r, expected a number from 0 to 5" % (where, value))
    return y


def _path(data_dir, name):
    return os.path.join(data_dir, name)


# --- loaders -------------------------------------------------------------------

def load_cola(data_dir):
    src = _source("CoLA")
    layout = "4 columns, no header: source, label, acceptability mark, sentence"
    split = {}
    for name, fn in (("train", "train.tsv"), ("valid", "dev.tsv")):
        split[name] = _load_file(_path(data_dir, fn), "CoLA " + fn, src, {"sentence": 3},
                                 label=1, parse=_classes(BINARY), headerless=layout)
    split["test"] = _load_file(_path(data_dir, "test.tsv"), "CoLA test.tsv", src,
                               {"sentence": "sentence"}, index="index")
    return split


def load_sst2(data_dir):
    src = _source("SST-2")
    split = {name: _load_file(_path(data_dir, fn), "SST-2 " + fn, src, {"sentence": "sentence"},
                              label="label", parse=_classes(BINARY))
             for name, fn in (("train", "train.tsv"), ("valid", "dev.tsv"))}
    split["test"] = _load_file(_path(data_dir, "test.tsv"), "SST-2 test.tsv", src,
                               {"sentence": "sentence"}, index="index")
    return split


def _labelled_and_test(data_dir, name, texts, test_index, **labelled):
    """train.tsv and dev.tsv read with `labelled` (the label column, its parser, the
    index), test.tsv without labels, its index column `test_index`."""
    src = _source(name)
    split = {s: _load_file(_path(data_dir, fn), "%s %s" % (name, fn), src, texts, **labelled)
             for s, fn in (("train", "train.tsv"), ("valid", "dev.tsv"))}
    split["test"] = _load_file(_path(data_dir, "test.tsv"), "%s test.tsv" % name, src, texts,
                               index=test_index)
    return split


def load_mrpc(data_dir):
    # train.tsv/dev.tsv as download_glue_data.py's format_mrpc writes them (label
    # `Quality` in column 0, the header behind a BOM); test.tsv names column 0 `index`.
    texts = {"sentence1": "#1 String", "sentence2": "#2 String"}
    return _labelled_and_test(data_dir, "MRPC", texts, "index", label="Quality",
                              parse=_classes(BINARY))


def load_stsb(data_dir):
    texts = {"sentence1": "sentence1", "sentence2": "sentence2"}
    return _labelled_and_test(data_dir, "STS-B", texts, "index", label="score", parse=_score,
                              dtype=np.float32, index="index")


def load_qqp(data_dir):
    texts = {"question1": "question1", "question2": "question2"}
    return _labelled_and_test(data_dir, "QQP", texts, "id", label="is_duplicate",
                              parse=_classes(BINARY), index="id")


def _diagnostic(data_dir, texts):
    """GLUE's diagnostic set (AX), unlabelled: diagnostic.tsv in data_dir, else in the
    sibling folder ../diagnostic/ as the GLUE download lays it out; None if absent."""
    places = [_path(data_dir, "diagnostic.tsv"),
              os.path.join(os.path.dirname(os.path.abspath(data_dir)), "diagnostic",
                           "diagnostic.tsv")]
    for path in places:
        if os.path.isfile(path):
            return _load_file(path, "GLUE diagnostic.tsv", _source("diagnostic"), texts,
                              index="index")
    print("warning: no GLUE diagnostic.tsv (looked for %s): AX.tsv will not be written "
          "(`python -m finetune_lm.download --task diagnostic` fetches it)"
          % " and ".join(places), file=sys.stderr)
    return None


def load_mnli(data_dir):
    src = _source("MNLI")
    texts = {"premise": "sentence1", "hypothesis": "sentence2"}
    split = {}
    for name, fn in (("train", "train.tsv"), ("valid", "dev_matched.tsv"),
                     ("valid_mm", "dev_mismatched.tsv")):
        split[name] = _load_file(_path(data_dir, fn), "MNLI " + fn, src, texts, label=LAST,
                                 label_name="gold_label", parse=_classes(NLI3), index="index")
    for name, fn in (("test", "test_matched.tsv"), ("test_mm", "test_mismatched.tsv")):
        split[name] = _load_file(_path(data_dir, fn), "MNLI " + fn, src, texts, index="index")
    ax = _diagnostic(data_dir, {"premise": "sentence1", "hypothesis": "sentence2"})
    if ax is not None:
        split["ax"] = ax
    return split


def _nli2(folder, texts, note=""):
    def load(data_dir):
        src = _source(folder, note)
        split = {name: _load_file(_path(data_dir, fn), "%s %s" % (folder, fn), src, texts,
                                  label="label", parse=_classes(NLI2), index="index")
                 for name, fn in (("train", "train.tsv"), ("valid", "dev.tsv"))}
        split["test"] = _load_file(_path(data_dir, "test.tsv"), "%s test.tsv" % folder, src,
                                   texts, index="index")
        return split
    load.__name__ = "load_" + folder.lower()
    return load


QNLI_NOTE = "; the paper used QNLI v1, of 2018"
load_qnli = _nli2("QNLI", {"question": "question", "sentence": "sentence"}, QNLI_NOTE)
load_rte = _nli2("RTE", {"sentence1": "sentence1", "sentence2": "sentence2"})


# --- STS-B: soft targets and the expected score ------------------------------

STSB_CLASSES = 6


def stsb_label_encoding(labels, n_class=STSB_CLASSES):
    """The original's STS-B targets (its utils.py, after Tai, Socher and Manning's
    Tree-LSTM paper): a score y in 0..5 spread over the classes floor(y), with
    weight floor(y) - y + 1, and floor(y) + 1, with weight y - floor(y), so that the
    targets' expected class is y. [N] scores -> [N, n_class] float32."""
    y = np.asarray(labels, np.float64).reshape(-1)
    lo = np.floor(y)
    out = np.zeros((len(y), n_class), np.float32)
    rows = np.arange(len(y))
    out[rows, lo.astype(np.int64)] = lo - y + 1
    hi = lo.astype(np.int64) + 1
    upper = hi < n_class  # y = 5: no class 6 (its weight is 0)
    out[rows[upper], hi[upper]] = (y - lo)[upper]
    return out


def stsb_expected_score(logits):
    """The predicted score: the expected class under softmax(logits), [N, 6] -> [N]."""
    x = np.asarray(logits, np.float64)
    x = x - np.max(x, axis=-1, keepdims=True)
    p = np.exp(x)
    p /= np.sum(p, axis=-1, keepdims=True)
    return p @ np.arange(x.shape[-1], dtype=np.float64)


# --- declarations --------------------------------------------------------------

TASKS = [
    Task(name="cola", folder="CoLA", title="CoLA", source=_source("CoLA"), load=load_cola,
         fields=("sentence",), transform=classification("sentence"),
         n_seq=1, head="linear", n_out=2, metrics=(MATTHEWS,),
         submissions=(Submission("test", "CoLA.tsv"),), paper={"test mcc": 45.4}),
    Task(name="sst2", folder="SST-2", title="SST-2", source=_source("SST-2"), load=load_sst2,
         fields=("sentence",), transform=classification("sentence"),
         n_seq=1, head="linear", n_out=2, metrics=(ACCURACY,),
         submissions=(Submission("test", "SST-2.tsv"),), paper={"test acc": 91.3}),
    Task(name="mrpc", folder="MRPC", title="MRPC", source=_source("MRPC"), load=load_mrpc,
         fields=("sentence1", "sentence2"),
         transform=similarity("sentence1", "sentence2"),
         n_seq=2, head="pair_sum", n_out=2, metrics=(F1, ACCURACY),
         submissions=(Submission("test", "MRPC.tsv"),), paper={"test f1": 82.3}),
    Task(name="stsb", folder="STS-B", title="STS-B", source=_source("STS-B"), load=load_stsb,
         fields=("sentence1", "sentence2"),
         transform=similarity("sentence1", "sentence2"),
         n_seq=2, head="pair_sum", n_out=STSB_CLASSES, metrics=(PEARSON, SPEARMAN),
         targets=stsb_label_encoding, soft_targets=True, predict=stsb_expected_score,
         submissions=(Submission("test", "STS-B.tsv"),), paper={"test pearson": 82.0}),
    Task(name="qqp", folder="QQP", title="QQP", source=_source("QQP"), load=load_qqp,
         fields=("question1", "question2"),
         transform=similarity("question1", "question2"),
         n_seq=2, head="pair_sum", n_out=2, metrics=(F1, ACCURACY),
         submissions=(Submission("test", "QQP.tsv"),), paper={"test f1": 70.3}),
    Task(name="mnli", folder="MNLI", title="MNLI", source=_source("MNLI"), load=load_mnli,
         fields=("premise", "hypothesis"),
         transform=entailment("premise", "hypothesis"),
         n_seq=1, head="linear", n_out=3, label_names=NLI3, metrics=(ACCURACY,),
         submissions=(Submission("test", "MNLI-m.tsv"), Submission("test_mm", "MNLI-mm.tsv"),
                      Submission("ax", "AX.tsv")),
         analysis=("valid_mm",), paper={"test acc": 82.1, "test_mm acc": 81.4},
         split_titles={"valid_mm": "Valid mismatched", "test_mm": "Test mismatched",
                       "ax": "Diagnostic"}),
    # QNLI: the paper (June 2018) used GLUE's first QNLI, v1 (108436/5732/5740 rows),
    # which GLUE replaced with v2 (104743/5463/5463) in 2019; both have the same
    # layout, so --data_dir picks the version. 88.1 is a v1 number. The question
    # fills the premise slot and the sentence the hypothesis slot (GLUE's column order).
    Task(name="qnli", folder="QNLI", title="QNLI", source=_source("QNLI", QNLI_NOTE),
         load=load_qnli, fields=("question", "sentence"),
         transform=entailment("question", "sentence"),
         n_seq=1, head="linear", n_out=2, label_names=NLI2, metrics=(ACCURACY,),
         submissions=(Submission("test", "QNLI.tsv"),), paper={"test acc": 88.1}),
    Task(name="rte", folder="RTE", title="RTE", source=_source("RTE"), load=load_rte,
         fields=("sentence1", "sentence2"),
         transform=entailment("sentence1", "sentence2"),
         n_seq=1, head="linear", n_out=2, label_names=NLI2, metrics=(ACCURACY,),
         submissions=(Submission("test", "RTE.tsv"),), paper={"test acc": 56.0}),
]


# -- the GLUE server's upload (python -m finetune_lm.predict --glue_zip) -----------------

# The split names of GLUE's files -> this package's split names.
FILE_SPLITS = {"dev": "valid", "validation": "valid", "dev_matched": "valid",
                 "dev_mismatched": "valid_mm", "test_matched": "test",
                 "test_mismatched": "test_mm", "diagnostic": "ax"}
UPLOAD_FILES = ("CoLA.tsv", "SST-2.tsv", "MRPC.tsv", "STS-B.tsv", "QQP.tsv", "MNLI-m.tsv",
              "MNLI-mm.tsv", "QNLI.tsv", "RTE.tsv", "WNLI.tsv", "AX.tsv")
WNLI_SOURCE = ("GLUE's download of WNLI (download_glue_data.py --tasks WNLI; "
               "https://gluebenchmark.com/tasks)")


def glue_tasks():
    """The GLUE tasks' declarations, as the task table holds them."""
    return list(TASKS)


def read_wnli(wnli_dir):
    """(majority label, its count, training examples, test index) of GLUE's WNLI."""
    rows = read_tsv(os.path.join(wnli_dir, "train.tsv"), "WNLI train.tsv", WNLI_SOURCE, n_header=0)
    if len(rows) < 2:
        raise UserError("%s has no examples: expected GLUE's WNLI train.tsv, from %s"
                        % (os.path.join(wnli_dir, "train.tsv"), WNLI_SOURCE))
    path = os.path.join(wnli_dir, "train.tsv")
    label = _column(rows[0][1], "label", path, "WNLI train.tsv")
    counts = {}
    for lineno, fields in rows[1:]:
        if len(fields) <= label:
            raise UserError("%s, line %d: %d fields, expected at least %d"
                            % (path, lineno, len(fields), label + 1))
        counts[fields[label].strip()] = counts.get(fields[label].strip(), 0) + 1
    majority = max(sorted(counts), key=lambda k: counts[k])
    test_path = os.path.join(wnli_dir, "test.tsv")
    test = read_tsv(test_path, "WNLI test.tsv", WNLI_SOURCE, n_header=0)
    if len(test) < 2:
        raise UserError("%s has no examples: expected GLUE's WNLI test.tsv, from %s"
                        % (test_path, WNLI_SOURCE))
    col = _column(test[0][1], "index", test_path, "WNLI test.tsv")
    index = [fields[col].strip() for _, fields in test[1:]]
    return majority, counts[majority], sum(counts.values()), index
