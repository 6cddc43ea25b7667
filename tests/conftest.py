"""Fixtures; the shared helpers are in helpers.py. `-m "not slow"` runs the in-process
tests only (see pytest.ini)."""

import os

import pytest

from helpers import DATA_ENV, data_dir

# A relative $FINETUNE_LM_DATA (the README's `FINETUNE_LM_DATA=../shared/data`) is
# relative to the folder pytest was started from; made absolute here, before any test
# runs train.py or a helper in a subprocess with another working directory.
if os.environ.get(DATA_ENV):
    os.environ[DATA_ENV] = os.path.abspath(os.path.expanduser(os.environ[DATA_ENV]))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def gpt1_dir():
    return data_dir("gpt1")


@pytest.fixture(scope="session")
def rocstories_dir():
    return data_dir("rocstories")


@pytest.fixture(scope="session")
def rocstories_subset(rocstories_dir, tmp_path_factory):
    """make(n_train, n_test): a folder with the two ROCStories files cut to their first
    rows, as written: the val file's first 374 + n_train stories (374 go to the
    validation split, the rest to training) and the test file's first n_test. Real
    stories, fewer of them: a run over them is short. One folder per size."""
    from finetune_lm.tasks.rocstories import N_VALID, ROC_TEST, ROC_VAL
    made = {}

    def make(n_train=96, n_test=96):
        if (n_train, n_test) not in made:
            out = tmp_path_factory.mktemp("rocstories_%d_%d" % (n_train, n_test))
            for name, n in ((ROC_VAL, N_VALID + n_train), (ROC_TEST, n_test)):
                with open(os.path.join(rocstories_dir, name), encoding="utf-8", newline="") as f:
                    lines = f.read().splitlines(keepends=True)[:1 + n]  # the header, n rows
                (out / name).write_text("".join(lines), encoding="utf-8", newline="")
            made[n_train, n_test] = str(out)
        return made[n_train, n_test]
    return make
