"""Predict with a fine-tuned run on new text, or on any split of its task's files.

    python -m finetune_lm.predict --run save/<desc> --input texts.tsv [--output out.tsv]
    python -m finetune_lm.predict --run save/<desc> --split valid
    python -m finetune_lm.predict --glue_zip glue.zip --runs save/cola save/sst2 ... \
        --wnli_dir glue_data/WNLI

`--run` is the run's folder (best_params.jl and model.json, which train.py --submit
writes). `--input FILE` (`-`: standard input) is a TSV whose header names the task's
fields (CoLA, SST-2: `sentence`; MNLI, SNLI, SciTail: `premise`, `hypothesis`; QNLI:
`question`, `sentence`; RTE, MRPC, STS-B: `sentence1`, `sentence2`; QQP: `question1`,
`question2`; RACE: `article`, `question`, `option0` .. `option3`; ROCStories: `story`,
`ending1`, `ending2`), or JSON lines with those keys; a column or key `index`, `id`,
`idx`, `pairID` or `guid` is copied to the output as the example's id. `--split NAME`
reads that split of the task's own files (`--data_dir`, default the run's), and, for a
labelled split, also prints the task's metrics (to stdout when --output is a file, else
to stderr).

Output (`--output`, default standard output): one line per example, in input order:
the id (when the input has one), the prediction (a label, an STS-B score, or for a
multiple-choice task the chosen option's field: ROCStories `ending1` / `ending2`,
counted from 1 as its CSV files count them; RACE `option0` .. `option3`, as its
input fields; the submission file ROCStories.tsv keeps the original's 0-based
index), the probability of each class or option (`p_<name>`), and with --logits
the logits (`logit_<name>`, exact decimal repr), as TSV with a header (default) or
JSON lines (`--format jsonl`). Nothing else goes to stdout; the progress bar (the
prediction's, labelled `predict`) and the one line counting the examples cut to fit
go to stderr.

The inputs go through training's own code: encoded and transformed by
data/inputs.py (the task's transformation at the run's --n_ctx; an example whose
sequences then exceed the model's context, the longest input of the run's data, is
transformed again at that context), and scored by training/model.Model, whose classifier is
the training evaluation's step on the run's towers and devices (--n_gpu, --n_batch):
the dev split's logits are those the training run's own evaluation computed.

Bad input (a missing field column, an empty input, a run folder without best_params.jl
or model.json, sizes that do not fit the arrays, an unknown split) is one `error:` line
and exit status 2, before TensorFlow starts.
"""

import io
import json
import os
import sys
import zipfile

import numpy as np

from finetune_lm import flags
from finetune_lm.tasks import (FILE_SPLITS, UPLOAD_FILES, WNLI_SOURCE, glue_tasks,
                               read_wnli)
from finetune_lm.training import runs
# Reading and encoding the examples: the library's, named here too (the Python API's).
from finetune_lm.training.examples import (  # noqa: F401
    ID_COLUMNS, encode, read_input, rows_split)
from finetune_lm.training.submission import submission_text
from finetune_lm.util import memory
from finetune_lm.util.errors import UserError, check_first, run_command
from finetune_lm.util.options import add_options

PROG = "python -m finetune_lm.predict"


def build_parser():
    p = flags.parser(PROG, flags.summary(__doc__))
    add_options(p, (
        ("--run", "the run's folder, save_dir/<desc>/ (best_params.jl, model.json)"),
        ("--input", "TSV with a header naming the task's fields, or JSON lines; - for "
                    "standard input"),
        ("--input_format", "auto: JSON lines when the input starts with {",
         {"choices": ("auto", "tsv", "jsonl"), "default": "auto"}),
        ("--split", "a split of the task's own files instead (train, valid, test, "
                    "valid_mm, test_mm, ax; dev = valid)"),
        ("--data_dir", "the task's files for --split (default: the run's, else "
                       "datasets/<task folder>)"),
        ("--output", "default: standard output"),
        ("--format", None, {"choices": ("tsv", "jsonl"), "default": "tsv"}),
        ("--logits", "also write the logits", {"action": "store_true"})))
    flags.add_vocabulary(p, "where the vocabulary is, when the files the run recorded are "
                            "gone")
    return add_options(p, (
        ("--n_batch", "examples per tower (default: the run's; the run's --n_gpu towers "
                      "make a batch)", {"type": int, "default": None}),
        ("--cpu_devices", "split the CPU into N logical devices for the towers",
         {"type": int, "default": 0}),
        ("--xla", "compile with XLA (default: as the run did)",
         {"dest": "xla", "action": "store_true", "default": None}),
        ("--no_xla", None, {"dest": "xla", "action": "store_false"}),
        ("--glue_zip", "write the GLUE server's upload (every task's test predictions) "
                       "to this zip, from --runs"),
        ("--runs", "with --glue_zip: one run folder per GLUE task",
         {"nargs": "+", "default": None}),
        ("--glue_dir", "with --glue_zip: GLUE's download (one folder per task); default: "
                       "each run's own data folder"),
        ("--wnli_dir", "with --glue_zip: GLUE's WNLI folder (train.tsv, test.tsv); WNLI.tsv "
                       "is its training set's majority class (default: <glue_dir>/WNLI)")))


# -- reading the examples ------------------------------------------------------------------

def load_split(task, data_dir, name):
    """One split of the task's own files (train, valid, test, ...)."""
    name = FILE_SPLITS.get(name, name)
    splits = task.load(data_dir)
    if name not in splits:
        raise UserError("--split %s: %s has no such split; expected one of %s"
                        % (name, task.name, ", ".join(splits)))
    if len(splits[name]) == 0:
        raise UserError("--split %s of %s (%s) is empty" % (name, task.name, data_dir))
    return name, splits[name]


# -- encoding and the model ---------------------------------------------------------------

_SPLIT_DONE = []


def make_model(info, arrays, n_batch=None, xla=None, cpu_devices=0, vocab=None):
    """training/model.Model of the run: its head, towers and batch (n_batch, xla: changes)."""
    from finetune_lm.training.model import Model
    from finetune_lm.training import towers
    if cpu_devices and cpu_devices > 1 and not _SPLIT_DONE:
        try:
            towers.split_cpu(cpu_devices)
        except (RuntimeError, UserError):
            pass  # already split in this process
        _SPLIT_DONE.append(cpu_devices)
    changes = {}
    if n_batch:
        changes["n_batch"] = n_batch
    if xla is not None:
        changes["xla"] = xla
    return Model(runs.hparams(info, **changes), arrays, info, vocab, info.get("_dir"))


def predict_logits(info, arrays, enc, **kwargs):
    """The run's logits of an encoded split (Model.classify)."""
    return make_model(info, arrays, **kwargs).classify(enc)


# -- output -------------------------------------------------------------------------------

def _num(x):
    return repr(float(x))


def column_names(task, info):
    """One name per logit column: a multiple-choice head's options by their input fields
    (ROCStories: ending1, ending2, counted from 1 as its files count them; RACE:
    option0 .. option3), else the label names, else the class index."""
    if info["head"] == "choice" and len(task.fields) >= info["n_seq"]:
        return list(task.fields[-info["n_seq"]:])
    return runs.class_names(task, info)


def prediction_names(task, info, logits):
    """The prediction of each row as written: a multiple-choice head's chosen option by
    its field name (not the 0-based index of the submission file), else the label or
    score the task's submission writes."""
    preds = task.predictions(logits)
    if info["head"] == "choice" and len(task.fields) >= info["n_seq"]:
        names = column_names(task, info)
        return preds, [names[int(p)] for p in preds]
    return preds, task.prediction_strings(preds)


def format_rows(task, info, logits, index, id_name, fmt="tsv", with_logits=False):
    """The output's lines (TSV with its header, or JSON lines)."""
    names = column_names(task, info)
    preds, strings = prediction_names(task, info, logits)
    probs = runs.softmax(logits)
    lines = []
    if fmt == "tsv":
        header = ([id_name] if id_name else []) + ["prediction"] + ["p_" + n for n in names]
        if with_logits:
            header += ["logit_" + n for n in names]
        lines.append("\t".join(header))
        for i in range(len(strings)):
            row = ([str(index[i])] if id_name else []) + [strings[i]]
            row += ["%.6f" % p for p in probs[i]]
            if with_logits:
                row += [_num(x) for x in logits[i]]
            lines.append("\t".join(row))
    else:
        numeric = np.issubdtype(np.asarray(preds).dtype, np.floating)
        for i in range(len(strings)):
            row = {id_name: index[i]} if id_name else {}
            row["prediction"] = float(strings[i]) if numeric else strings[i]
            row["probabilities"] = {n: round(float(p), 6) for n, p in zip(names, probs[i])}
            if with_logits:
                row["logits"] = {n: float(x) for n, x in zip(names, logits[i])}
            lines.append(json.dumps(row))
    return lines


def _write(path, lines):
    text = "".join(line + "\n" for line in lines)
    if path is None or path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        from finetune_lm.util.files import atomic_write
        atomic_write(path, text)


# -- the command --------------------------------------------------------------------------

def check(args):
    """Everything that can be checked before TensorFlow starts; returns the plan."""
    from finetune_lm.tasks import task_for_run
    if args.glue_zip or args.runs:
        return check_glue(args)
    if not args.run:
        raise UserError("--run is required: the run's folder, save_dir/<desc>/ (or --glue_zip "
                        "with --runs)")
    if (args.input is None) == (args.split is None):
        raise UserError("expected one of --input FILE (or - for standard input) and --split "
                        "NAME")
    if args.n_batch is not None and args.n_batch < 1:
        raise UserError("--n_batch %d: expected a positive integer" % args.n_batch)
    info, best = runs.read_run(args.run)
    memory.check_batch("--n_batch", args.n_batch, info)  # before TensorFlow and the inputs
    task = task_for_run(info)
    encoder_path, bpe_path = runs.vocabulary(info, args.params_dir, args.encoder_path,
                                             args.bpe_path)
    if args.input is not None:
        split, id_name = read_input(args.input, task, args.input_format)
        name = None
    else:
        data_dir = runs.data_dir(info, task, args.data_dir)
        name, split = load_split(task, data_dir, args.split)
        id_name = "index"
    arrays = runs.load_arrays(info, best)
    return {"info": info, "task": task, "arrays": arrays, "split": split, "name": name,
            "id_name": id_name, "vocab": (encoder_path, bpe_path)}


def run(args, plan):
    from finetune_lm.training import analysis
    from finetune_lm.training import loop
    if "glue" in plan:
        return run_glue(args, plan)
    info, task, split = plan["info"], plan["task"], plan["split"]
    enc, cut = encode(task, split, info, *plan["vocab"])
    if cut:
        print("predict: %d of %d examples were cut to fit (the run's --n_ctx %d, model n_ctx %d)"
              % (cut, len(split), info.get("n_ctx_flag", 512), info["n_ctx"]), file=sys.stderr)
    model = make_model(info, plan["arrays"], n_batch=args.n_batch, xla=args.xla,
                       cpu_devices=args.cpu_devices)
    logits = model.classify(enc)
    _write(args.output, format_rows(task, info, logits, split.index, plan["id_name"],
                                    args.format, args.logits))
    result = {"logits": logits, "cut": cut}
    if split.labels is not None and plan["name"]:
        scores = loop.scores(task, task.predictions(logits), split.labels, split.groups)
        to_stdout = args.output not in (None, "-")
        analysis.report(task, {plan["name"]: scores},
                        out=print if to_stdout else (lambda s: print(s, file=sys.stderr)))
        result["scores"] = scores
    return result


# -- the GLUE server's upload --------------------------------------------------------------

def check_glue(args):
    from finetune_lm.tasks import task_for_run
    if not (args.glue_zip and args.runs):
        raise UserError("--glue_zip OUT.zip and --runs RUN... go together (one run folder per "
                        "GLUE task)")
    if args.input or args.split or args.run:
        raise UserError("--glue_zip predicts each run's test files: drop --input, --split, --run")
    glue = glue_tasks()
    by_task = {}
    for run_dir in args.runs:
        info, best = runs.read_run(run_dir)
        task = task_for_run(info)
        if task.name not in [t.name for t in glue]:
            raise UserError("--runs %s is a run of %s, not of a GLUE task (%s)"
                            % (run_dir, task.name, ", ".join(t.name for t in glue)))
        if task.name in by_task:
            raise UserError("--runs: two runs of %s (%s and %s); expected one per task"
                            % (task.name, by_task[task.name][0], run_dir))
        by_task[task.name] = (run_dir, info, best)
    missing = [t for t in glue if t.name not in by_task]
    if missing:
        raise UserError("no run for %s: the GLUE server takes every task's file (%s); pass "
                        "one --runs folder per task"
                        % (", ".join("%s (%s)" % (t.display, t.name) for t in missing),
                           ", ".join(UPLOAD_FILES)))
    wnli_dir = args.wnli_dir or (os.path.join(args.glue_dir, "WNLI") if args.glue_dir else None)
    if not wnli_dir or not os.path.isdir(wnli_dir):
        raise UserError("no WNLI: %s; WNLI.tsv is filled with the majority class of WNLI's "
                        "training set, read from --wnli_dir (GLUE's WNLI folder: train.tsv, "
                        "test.tsv, from %s)"
                        % ("--wnli_dir %s is not a folder" % wnli_dir if wnli_dir
                           else "pass --wnli_dir or --glue_dir", WNLI_SOURCE))
    wnli = read_wnli(wnli_dir)
    jobs = []
    for task in glue:
        run_dir, info, best = by_task[task.name]
        data_dir = (os.path.join(args.glue_dir, task.folder) if args.glue_dir
                    else runs.data_dir(info, task))
        splits = task.load(data_dir)
        for sub in task.submissions:
            if sub.split not in splits:
                raise UserError("no %s: %s has no %s split (%s): expected %s"
                                % (sub.filename, data_dir, sub.split, task.name, task.source))
        vocab = runs.vocabulary(info, args.params_dir, args.encoder_path, args.bpe_path)
        jobs.append({"task": task, "run": run_dir, "info": info, "best": best,
                     "splits": {s.split: splits[s.split] for s in task.submissions},
                     "vocab": vocab})
    for job in jobs:  # sizes against arrays before any prediction
        job["arrays"] = runs.load_arrays(job["info"], job["best"])
    return {"glue": jobs, "wnli": wnli, "wnli_dir": wnli_dir}


def run_glue(args, plan):
    files = {}
    for job in plan["glue"]:
        task, info = job["task"], job["info"]
        model = None
        for sub in task.submissions:
            split = job["splits"][sub.split]
            enc, cut = encode(task, split, info, *job["vocab"])
            if cut:
                print("predict: %s: %d of %d examples were cut to fit" % (sub.filename, cut,
                                                                         len(split)),
                      file=sys.stderr)
            if model is None:
                model = make_model(info, job["arrays"], n_batch=args.n_batch, xla=args.xla,
                                   cpu_devices=args.cpu_devices)
            logits = model.classify(enc, desc="predict %s" % sub.filename)
            strings = task.prediction_strings(task.predictions(logits))
            files[sub.filename] = submission_text(split.index, strings)
            print("predict: %s: %d predictions of %s (run %s)"
                  % (sub.filename, len(strings), sub.split, job["run"]), file=sys.stderr)
    majority, count, total, index = plan["wnli"]
    files["WNLI.tsv"] = submission_text(index, [majority] * len(index))
    print("predict: WNLI.tsv: the majority class of WNLI's training set (%s, %d of %d "
          "examples in %s) for its %d test pairs; the paper did not report WNLI"
          % (majority, count, total, plan["wnli_dir"], len(index)), file=sys.stderr)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in UPLOAD_FILES:
            z.writestr(name, files[name])
    from finetune_lm.util.files import atomic_open
    with atomic_open(args.glue_zip, "wb") as f:
        f.write(buf.getvalue())
    print("predict: wrote %s (%s)" % (args.glue_zip, ", ".join(UPLOAD_FILES)), file=sys.stderr)
    return {"files": files}


def main(argv=None):
    args = build_parser().parse_args(argv)
    plan, status = check_first(check, args)  # bad input answers before TensorFlow loads
    return status or run_command(lambda a: run(a, plan), args)


if __name__ == "__main__":
    sys.exit(main())
