"""`--task_file my_task.py`: tasks declared in a file outside the package, with the same
API as the package's own (`from finetune_lm.tasks import Task, Split, Metric,
Submission`, `metrics`, `transforms`): the file defines `TASKS = [Task(...)]` and
`--dataset` picks one of them by name (the only one by default). The run records
the file's path and SHA-256, so that predict, export and reproduce import it again
and refuse a file that changed.
"""

import dataclasses
import hashlib
import importlib.util
import os
import sys

from finetune_lm.util.errors import UserError
from finetune_lm.tasks.base import Task

KIND = "task_file"


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def import_tasks(path):
    """{name: Task} of the file's TASKS."""
    if os.path.isdir(path) or not os.path.isfile(path):
        raise UserError("--task_file %s: %s; expected a Python file declaring TASKS = "
                        "[Task(...)]" % (path, "a folder" if os.path.isdir(path) else "no such file"))
    name = "finetune_lm_task_file_%s" % _sha256(path)[:16]
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except UserError:
        raise
    except Exception as err:  # the user's code: its error, named, as one line
        raise UserError("--task_file %s: importing it failed: %s: %s"
                        % (path, type(err).__name__, err)) from None
    tasks = getattr(module, "TASKS", None)
    if not isinstance(tasks, (list, tuple)) or not tasks or \
            not all(isinstance(t, Task) for t in tasks):
        raise UserError("--task_file %s: expected TASKS = [Task(...)], a non-empty list of "
                        "finetune_lm.tasks.Task; found %r" % (path, type(tasks).__name__
                                                              if tasks is not None else None))
    sys.modules[name] = module  # the loader's pickling and tracebacks find it
    out = {}
    for t in tasks:
        if t.name in out:
            raise UserError("--task_file %s declares two tasks named %r" % (path, t.name))
        out[t.name] = t
    return out


def pick(tasks, name, path):
    if name is None:
        if len(tasks) > 1:
            raise UserError("--task_file %s declares %d tasks (%s); expected --dataset naming "
                            "one" % (path, len(tasks), ", ".join(tasks)))
        name = next(iter(tasks))
    if name not in tasks:
        raise UserError("--dataset %r is not a task of --task_file %s; expected one of %s"
                        % (name, path, ", ".join(tasks)))
    return tasks[name]


def with_spec(task, path):
    """The task, recording where it came from."""
    spec = {"kind": KIND, "path": os.path.abspath(path), "sha256": _sha256(path),
            "name": task.name}
    about = task.about or "declared in %s" % os.path.abspath(path)
    return dataclasses.replace(task, spec=spec, about=about)


def from_args(path, name):
    return with_spec(pick(import_tasks(path), name, path), path)


def from_spec(spec):
    path = spec["path"]
    if not os.path.isfile(path):
        raise UserError("the run's task file %s is gone; expected the file the run was trained "
                        "with" % path)
    if _sha256(path) != spec["sha256"]:
        raise UserError("the run's task file %s changed since the run (SHA-256 %s, recorded "
                        "%s); expected the file the run was trained with"
                        % (path, _sha256(path)[:12], spec["sha256"][:12]))
    return with_spec(pick(import_tasks(path), spec["name"], path), path)
