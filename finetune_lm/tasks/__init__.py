"""The task table: every module of this package that defines `TASKS` (a list of
`base.Task`) adds its tasks under their `--dataset` names. Adding a task is adding a
small file here; the training loop, evaluation, reproduce and bench only read the
declarations."""

import importlib
import pkgutil

from finetune_lm.util.errors import UserError
from .base import Metric, Split, Submission, Task  # noqa: F401  (the API of a task file)
from . import custom, task_file
# The GLUE server's upload, which predict --glue_zip gathers (one family's declaration).
from .glue import FILE_SPLITS, UPLOAD_FILES, WNLI_SOURCE, glue_tasks, read_wnli  # noqa: F401

# The task the original released, which the benchmark measures unless told otherwise.
DEFAULT = "rocstories"

_TABLE = None


def all_tasks():
    """{--dataset name: Task}, in the order of the modules' names."""
    global _TABLE
    if _TABLE is None:
        table = {}
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if info.name in ("base", "transforms", "metrics", "custom", "task_file"):
                continue
            module = importlib.import_module("%s.%s" % (__name__, info.name))
            for task in getattr(module, "TASKS", ()):
                if task.name in table:
                    raise RuntimeError("two tasks named %r" % task.name)
                table[task.name] = task
        _TABLE = table
    return _TABLE


def get_task(name):
    tasks = all_tasks()
    if name not in tasks:
        raise UserError("--dataset %r is not a known task; expected one of: %s"
                        % (name, ", ".join(sorted(tasks))))
    return tasks[name]


# -- tasks not in the table: your own data, a --task_file --------------------------------

add_flags = custom.add_flags  # train.py's group of flags for them
CUSTOM = custom.NAME  # the --dataset name of your own files


def dataset_names():
    """What --dataset takes: the table's names and the one of your own data."""
    return sorted(all_tasks()) + [custom.NAME]


def _register(task):
    """Put a task built from flags or a file in the table, so that get_task finds it."""
    table = all_tasks()
    if task.name in table and table[task.name].spec is None:
        raise UserError("--task_file declares a task named %r, which is a task of the package; "
                        "expected another name" % task.name)
    table[task.name] = task
    return task


def task_for_args(args):
    """The task a command's flags name: --task_file's (args.dataset picks one; set to its
    name), --dataset custom's (built from the file flags, reading the files' headers and
    labels), else the table's. The first two are put in the table under their name."""
    if getattr(args, "task_file", None):
        task = task_file.from_args(args.task_file, args.dataset)
        args.dataset = task.name
        return _register(task)
    if args.dataset == custom.NAME:
        return _register(custom.task_from_spec(custom.spec_from_args(args)))
    given = [f for f in custom.FILE_FLAGS if getattr(args, f, None) is not None]
    if given:
        raise UserError("--%s goes with --dataset %s (your own files), not --dataset %s"
                        % (given[0], custom.NAME, args.dataset))
    return get_task(args.dataset)


def task_for_run(info):
    """The task of a trained run from its model.json: rebuilt from the recorded spec
    where the run's task was not the table's, else the table's."""
    spec = info.get("task_spec")
    if not spec:
        return get_task(info["task"])
    if spec.get("kind") == task_file.KIND:
        return _register(task_file.from_spec(spec))
    return _register(custom.task_from_spec(spec))
