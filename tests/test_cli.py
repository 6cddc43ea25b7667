"""Bad input to train.py: one `error: ...` line on stderr and exit status 2, no traceback.

Most cases call finetune_lm.train.main in-process (fast); one runs train.py in a
subprocess to check the exit status and that no traceback reaches the user.
"""

import json
import os
import re

import numpy as np
import pytest

from conftest import TEST, VAL, run_train, write_csv
from finetune_lm import train

RELEASE = ["encoder_bpe_40000.json", "vocab_40000.bpe", "params_shapes.json"] + [
    "params_%d.npy" % i for i in range(10)]
DOWNLOAD = "python -m finetune_lm.download"


def outputs(tmp_path):
    return ["--log_dir", str(tmp_path / "log"), "--save_dir", str(tmp_path / "save"),
            "--submission_dir", str(tmp_path / "submission")]


def error_line(capsys, argv):
    """Run main(argv); it must return 2 and print exactly one `error: ` line on stderr."""
    assert train.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    # Besides the error, stderr may only hold the encoder's tqdm progress bars.
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert all(re.search(r"\d+/\d+ \[", line) for line in lines if line not in errors), err
    return errors[0]


def released_shapes(n_embd=768, n_layer=12):
    nx = n_embd
    block = [[1, nx, 3 * nx], [3 * nx], [1, nx, nx], [nx], [nx], [nx],
             [1, nx, 4 * nx], [4 * nx], [1, 4 * nx, nx], [nx], [nx], [nx]]
    return [[512, nx], [40478, nx]] + block * n_layer


def standin_params(folder, files=RELEASE):
    """A params folder with stand-ins for `files`: a tiny encoder and BPE merges, the
    released params_shapes.json (146 shapes) and tiny shards."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["<unk>", "a</w>", "s</w>", ".</w>", "e", "n", "d</w>"]
    for name in files:
        path = folder / name
        if name == "encoder_bpe_40000.json":
            path.write_text(json.dumps({p: i for i, p in enumerate(vocab)}), encoding="utf-8")
        elif name == "vocab_40000.bpe":
            path.write_text("#version: 0.2\ne n\nen d</w>\n", encoding="utf-8")
        elif name == "params_shapes.json":
            path.write_text(json.dumps(released_shapes()))
        else:
            np.save(path, np.zeros(3, np.float32))
    return str(folder)


def row(i, label="1"):
    return ["id%d" % i, "Sent one %d." % i, "Sent two.", "Sent three.", "Sent four.",
            "The end.", "An end.", label]


def rocstories_data(folder, n_val=380, n_test=4):
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / VAL, [row(i, "12"[i % 2]) for i in range(n_val)])
    write_csv(folder / TEST, [row(i, "21"[i % 2]) for i in range(n_test)])
    return str(folder)


# -- flags -------------------------------------------------------------------------

def test_unknown_dataset(capsys, tmp_path):
    line = error_line(capsys, ["--dataset", "rocstorie"] + outputs(tmp_path))
    assert "--dataset" in line and "'rocstorie'" in line and "rocstories" in line.split(":")[-1]


def test_no_dataset(capsys, tmp_path):
    line = error_line(capsys, outputs(tmp_path))
    assert "--dataset" in line and "rocstories" in line


def test_n_embd_not_divisible_by_n_head(capsys, tmp_path):
    line = error_line(capsys, ["--dataset", "rocstories", "--n_embd", "100", "--n_head", "12"]
                      + outputs(tmp_path))
    assert "--n_embd 100" in line and "--n_head 12" in line


def test_n_ctx_more_than_released_positions(capsys, tmp_path):
    params = standin_params(tmp_path / "params")  # complete: the n_ctx check comes first anyway
    line = error_line(capsys, ["--dataset", "rocstories", "--n_ctx", "1024",
                               "--params_dir", params] + outputs(tmp_path))
    assert "--n_ctx 1024" in line and "512" in line


@pytest.mark.parametrize("flags, words", [
    (["--afn", "tanh"], ["--afn", "'tanh'", "gelu"]),
    (["--lr_schedule", "linear"], ["--lr_schedule", "warmup_linear"]),
    (["--opt", "sgd"], ["--opt", "adam"]),
    (["--n_transfer", "13"], ["--n_transfer 13", "12"]),
    (["--n_transfer", "-2"], ["--n_transfer -2", "-1"]),
    (["--n_batch", "0"], ["--n_batch 0", "positive"]),
])
def test_other_bad_flags(capsys, tmp_path, flags, words):
    line = error_line(capsys, ["--dataset", "rocstories"] + flags + outputs(tmp_path))
    for w in words:
        assert w in line, line


# -- params folder ------------------------------------------------------------------

def test_missing_params_dir(capsys, tmp_path):
    params = str(tmp_path / "no_params")
    line = error_line(capsys, ["--dataset", "rocstories", "--params_dir", params]
                      + outputs(tmp_path))
    assert all(name in line for name in RELEASE), line
    assert "`%s --dest %s`" % (DOWNLOAD, params) in line


def test_incomplete_params_dir(capsys, tmp_path):
    have = [n for n in RELEASE if n not in ("params_4.npy", "vocab_40000.bpe")]
    params = standin_params(tmp_path / "params", have)
    line = error_line(capsys, ["--dataset", "rocstories", "--params_dir", params]
                      + outputs(tmp_path))
    assert "params_4.npy" in line and "vocab_40000.bpe" in line
    assert "params_3.npy" not in line and "params_shapes.json" not in line
    assert "`%s --dest %s`" % (DOWNLOAD, params) in line


def test_shapes_do_not_fit_the_flags(capsys, tmp_path):
    params = standin_params(tmp_path / "params")
    data = rocstories_data(tmp_path / "data")
    line = error_line(capsys, ["--dataset", "rocstories", "--n_embd", "32", "--n_head", "4",
                               "--params_dir", params, "--data_dir", data] + outputs(tmp_path))
    assert os.path.join(params, "params_shapes.json") in line
    assert "[512, 768]" in line and "[512, 32]" in line and "--n_embd 32" in line


# -- ROCStories folder ------------------------------------------------------------------

def test_missing_rocstories_file(capsys, tmp_path, gpt1_dir):
    data = tmp_path / "empty"
    data.mkdir()
    line = error_line(capsys, ["--dataset", "rocstories", "--n_transfer", "-1",
                               "--params_dir", gpt1_dir, "--data_dir", str(data)]
                      + outputs(tmp_path))
    assert VAL in line and "--data_dir" in line


def test_missing_rocstories_test_file(capsys, tmp_path):
    params = standin_params(tmp_path / "params")
    data = rocstories_data(tmp_path / "data")
    os.remove(os.path.join(data, TEST))
    line = error_line(capsys, ["--dataset", "rocstories", "--n_transfer", "-1",
                               "--params_dir", params, "--data_dir", data] + outputs(tmp_path))
    assert TEST in line and os.path.join(data, TEST) in line


def test_bad_label(capsys, tmp_path):
    params = standin_params(tmp_path / "params")
    data = rocstories_data(tmp_path / "data")
    rows = [row(i) for i in range(380)]
    rows[9][-1] = "3"  # line 11
    path = write_csv(os.path.join(data, VAL), rows)
    line = error_line(capsys, ["--dataset", "rocstories", "--n_transfer", "-1",
                               "--params_dir", params, "--data_dir", data] + outputs(tmp_path))
    assert path in line and "line 11" in line and "1 or 2" in line


# -- one real process ----------------------------------------------------------------------

def test_subprocess_exit_status(tmp_path):
    params = str(tmp_path / "no_params")
    proc = run_train(["--dataset", "rocstories", "--params_dir", params] + outputs(tmp_path),
                     cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert "`%s --dest %s`" % (DOWNLOAD, params) in errors[0]
