"""The task table: every module of this package that defines `TASKS` (a list of
`base.Task`) adds its tasks under their `--dataset` names. Adding a task is adding a
small file here; the training loop, evaluation, reproduce and bench only read the
declarations."""

import importlib
import pkgutil

from finetune_lm.util.errors import UserError
from .base import Metric, Split, Submission, Task  # noqa: F401  (the API of a task file)
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
            if info.name in ("base", "transforms", "metrics"):
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
