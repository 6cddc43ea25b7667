"""Shared fixtures. Real data comes from $FINETUNE_LM_DATA (a folder holding gpt1/ and
rocstories/, as ../shared/data does); tests that need it skip, naming the variable."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_ENV = "FINETUNE_LM_DATA"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def data_dir(sub):
    base = os.environ.get(DATA_ENV)
    if not base:
        pytest.skip("set %s to the folder holding gpt1/ and rocstories/ (e.g. ../shared/data)"
                    % DATA_ENV)
    path = os.path.join(base, sub)
    if not os.path.isdir(path):
        pytest.skip("%s=%s has no %s/ folder" % (DATA_ENV, base, sub))
    return path


@pytest.fixture
def gpt1_dir():
    return data_dir("gpt1")


@pytest.fixture
def rocstories_dir():
    return data_dir("rocstories")


def run_train(args, cwd, timeout=900, env=None):
    """Run train.py in a subprocess; returns CompletedProcess (text)."""
    import subprocess
    e = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    e.update(env or {})
    return subprocess.run([sys.executable, os.path.join(ROOT, "train.py")] + list(args), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=e)
