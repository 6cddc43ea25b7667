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
