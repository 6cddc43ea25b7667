"""Shared fixtures. Real data comes from $FINETUNE_LM_DATA (a folder holding gpt1/ and
rocstories/, as ../shared/data does); tests that need it skip, naming the variable."""

import csv
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_ENV = "FINETUNE_LM_DATA"

# A relative $FINETUNE_LM_DATA (the README's `FINETUNE_LM_DATA=../shared/data`) is
# relative to the folder pytest was started from; made absolute here, before any test
# runs train.py or a helper in a subprocess with another working directory.
if os.environ.get(DATA_ENV):
    os.environ[DATA_ENV] = os.path.abspath(os.path.expanduser(os.environ[DATA_ENV]))

# The ROCStories Cloze Test files, as their authors name and lay them out.
VAL = "cloze_test_val__spring2016 - cloze_test_ALL_val.csv"
TEST = "cloze_test_test__spring2016 - cloze_test_ALL_test.csv"
HEADER = ["InputStoryid", "InputSentence1", "InputSentence2", "InputSentence3",
          "InputSentence4", "RandomFifthSentenceQuiz1", "RandomFifthSentenceQuiz2",
          "AnswerRightEnding"]


def write_csv(path, rows, header=HEADER):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


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
