"""Fine-tune on rows given in Python (lists of dicts), the same run as the command's:

    from finetune_lm.train_rows import fine_tune_rows
    run_dir, result = fine_tune_rows(
        [{"text": "it was good", "label": "pos"}, ...],
        test_rows=[{"id": "a1", "text": "so dull"}],
        text_fields=["text"], label_field="label",
        desc="reviews", params_dir="params/", submit=True, n_iter=3)

The rows are written as JSON lines files (`<save_dir>/<desc>.rows/train.jsonl`, ...)
and the run is `python train.py --dataset custom --train_file ... --desc reviews
...` with the other keyword arguments as its flags (True: a switch; False or None: left
out), so that everything the command does (resume, the lock, model.json's spec,
predict, export, reproduce) holds for it. Bad input raises
finetune_lm.util.errors.UserError with the command's message.
"""

import os

from finetune_lm import flags
from finetune_lm.tasks import CUSTOM
from finetune_lm.tasks.custom import rows_file
from finetune_lm.training.fine_tune import check_args, run


def argv_of(options):
    """train.py's command line of keyword arguments."""
    argv = []
    for name, value in options.items():
        if value is None or value is False:
            continue
        argv.append("--" + name)
        if value is not True:
            argv.append(",".join(map(str, value)) if isinstance(value, (list, tuple))
                        else str(value))
    return argv


def fine_tune_rows(train_rows, text_fields, label_field, valid_rows=None, test_rows=None,
                   desc=CUSTOM, save_dir="save/", **options):
    """The run of `train.py --dataset custom` on these rows; returns (run folder, the
    run's figures: best_valid, n_updates and, with submit, the submission's)."""
    folder = os.path.join(save_dir, "%s.rows" % desc)
    files = {"train_file": rows_file(train_rows, os.path.join(folder, "train.jsonl"))}
    for flag, rows, name in (("valid_file", valid_rows, "valid"), ("test_file", test_rows, "test")):
        if rows is not None:
            files[flag] = rows_file(rows, os.path.join(folder, name + ".jsonl"))
    argv = ["--dataset", CUSTOM] + argv_of(dict(files, text_fields=list(text_fields),
                                                label_field=label_field, desc=desc,
                                                save_dir=save_dir, **options))
    args = check_args(flags.add_fine_tuning(flags.parser("python train.py", "")).parse_args(argv))
    return os.path.join(save_dir, desc), run(args)
