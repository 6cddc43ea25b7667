"""Bad input to train.py: one `error: ...` line on stderr and exit status 2, no traceback.

Most cases call finetune_lm.train.main in-process (fast); one runs train.py in a
subprocess to check the exit status and that no traceback reaches the user.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import (ROOT, TEST, VAL, error_line as main_error_line, progress_bar, run_module,
                     run_train, subprocess_env, with_cache, write_csv)
from finetune_lm import train

RELEASE = ["encoder_bpe_40000.json", "vocab_40000.bpe", "params_shapes.json"] + [
    "params_%d.npy" % i for i in range(10)]
DOWNLOAD = "python -m finetune_lm.download"


def outputs(tmp_path):
    return ["--log_dir", str(tmp_path / "log"), "--save_dir", str(tmp_path / "save"),
            "--submission_dir", str(tmp_path / "submission")]


def error_line(capsys, argv):
    """Run train.main(argv); it must return 2 and print exactly one `error: ` line on
    stderr. Besides the error, stderr may only hold the encoder's tqdm progress bars (and
    the warning that --unverified_weights asks for)."""
    return main_error_line(capsys, train.main, argv, allow=lambda line: progress_bar(line) or
                           line.startswith("warning: loading the weights in "))


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


@pytest.mark.parametrize("flags, words", [
    (["--no_such_flag"], ["--no_such_flag"]),
    (["--n_iter", "two"], ["--n_iter", "'two'"]),
])
def test_argparse_errors_are_one_line(capsys, tmp_path, flags, words):
    """argparse's own errors: exit status 2 and one `error:` line pointing to --help, no
    usage block."""
    with pytest.raises(SystemExit) as e:
        train.main(["--dataset", "rocstories"] + flags + outputs(tmp_path))
    assert e.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and err.rstrip("\n").endswith("; see python train.py --help")
    for w in words:
        assert w in err, err


def test_no_dataset(capsys, tmp_path):
    line = error_line(capsys, outputs(tmp_path))
    assert "--dataset" in line and "rocstories" in line


def test_n_embd_not_divisible_by_n_head(capsys, tmp_path):
    line = error_line(capsys, ["--dataset", "rocstories", "--n_embd", "100", "--n_head", "12"]
                      + outputs(tmp_path))
    assert "--n_embd 100" in line and "--n_head 12" in line


def test_n_ctx_more_than_released_positions(capsys, tmp_path, gpt1_dir):
    # The positions are the weights' (params_shapes.json): stand-ins, which are not the
    # release (--unverified_weights), with the release's 512, and the real vocabulary.
    params = standin_params(tmp_path / "params")
    line = error_line(capsys, ["--dataset", "rocstories", "--n_ctx", "1024", "--params_dir",
                               params, "--unverified_weights", "--encoder_path",
                               os.path.join(gpt1_dir, "encoder_bpe_40000.json"), "--bpe_path",
                               os.path.join(gpt1_dir, "vocab_40000.bpe")] + outputs(tmp_path))
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
    # --n_transfer is checked against the weights' layers: a complete folder of stand-ins.
    params = standin_params(tmp_path / "params")
    line = error_line(capsys, ["--dataset", "rocstories", "--params_dir", params,
                               "--unverified_weights"] + flags + outputs(tmp_path))
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
    # Stand-ins are not the release: --unverified_weights, to reach the shapes' check.
    line = error_line(capsys, ["--dataset", "rocstories", "--n_embd", "32", "--n_head", "4",
                               "--params_dir", params, "--data_dir", data, "--n_gpu", "1",
                               "--n_batch", "2", "--unverified_weights"] + outputs(tmp_path))
    assert params in line and "width is 768" in line and "--n_embd 32" in line


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

@pytest.mark.slow
def test_subprocess_exit_status(tmp_path):
    params = str(tmp_path / "no_params")
    proc = run_train(["--dataset", "rocstories", "--params_dir", params] + outputs(tmp_path),
                     cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert "`%s --dest %s`" % (DOWNLOAD, params) in errors[0]


# -- numbers, devices, flags that need each other --------------------------------------

@pytest.mark.parametrize("flags, words", [
    (["--seed", "-1"], ["--seed -1", "2**32 - 1"]),
    (["--seed", str(2 ** 40)], ["--seed %d" % 2 ** 40, "2**32 - 1"]),
    (["--lr", "-1"], ["--lr -1", "positive"]),
    (["--lr", "nan"], ["--lr nan"]),
    (["--lr_warmup", "0"], ["--lr_warmup 0", "(0, 1]"]),
    (["--lr_warmup", "1.5"], ["--lr_warmup 1.5", "(0, 1]"]),
    (["--lm_coef", "-1"], ["--lm_coef -1", "0"]),
    (["--max_grad_norm", "-0.5"], ["--max_grad_norm -0.5", "no clipping"]),
    (["--clf_pdrop", "1"], ["--clf_pdrop 1", "[0, 1)"]),
    (["--b2", "1"], ["--b2 1"]),
    (["--n_gpu", "3", "--cpu_devices", "2"], ["--n_gpu 3", "--cpu_devices 2", "1, 3"]),
    (["--n_gpu", "2", "--cpu_devices", "4"], ["--n_gpu 2", "--cpu_devices 4"]),
    (["--cpu_devices", "-1"], ["--cpu_devices -1"]),
    (["--analysis"], ["--analysis needs --submit"]),
])
def test_bad_numbers_and_combinations(capsys, tmp_path, flags, words):
    line = error_line(capsys, ["--dataset", "rocstories"] + flags + outputs(tmp_path))
    for w in words:
        assert w in line, line
    assert not os.path.exists(tmp_path / "log")  # refused before anything was written


def test_max_grad_norm_takes_a_float(capsys, tmp_path):
    assert train.build_parser().parse_args(["--max_grad_norm", "0.5"]).max_grad_norm == 0.5
    # Accepted: the run goes on to the next problem (no data, no weights here).
    line = error_line(capsys, ["--dataset", "rocstories", "--max_grad_norm", "0.5",
                               "--params_dir", str(tmp_path / "none")] + outputs(tmp_path))
    assert "--max_grad_norm" not in line and "params_0.npy" in line


# -- files and folders ----------------------------------------------------------------

def test_data_dir_is_a_file(capsys, tmp_path):
    params = standin_params(tmp_path / "params")
    path = tmp_path / "data.csv"
    path.write_text("x")
    line = error_line(capsys, ["--dataset", "rocstories", "--n_transfer", "-1",
                               "--params_dir", params, "--data_dir", str(path)]
                      + outputs(tmp_path))
    assert "--data_dir %s is a file" % path in line


def test_data_and_weights_both_missing(capsys, tmp_path):
    data = tmp_path / "rocstories"
    data.mkdir()
    (data / "README.md").write_text("Put the two CSVs here.")  # as the checkout ships it
    params = str(tmp_path / "params")
    line = error_line(capsys, ["--dataset", "rocstories", "--data_dir", str(data),
                               "--params_dir", params] + outputs(tmp_path))
    assert line.startswith("error: both the data and the model files are missing")
    assert str(data) in line and "ROCStories" in line and str(data / "README.md") in line
    assert all(name in line for name in RELEASE)
    assert "`%s --dest %s`" % (DOWNLOAD, params) in line


def test_vocabulary_only_setup_names_the_two_files(capsys, tmp_path):
    data = rocstories_data(tmp_path / "data")
    params = str(tmp_path / "params")
    line = error_line(capsys, ["--dataset", "rocstories", "--n_transfer", "-1",
                               "--data_dir", data, "--params_dir", params] + outputs(tmp_path))
    assert ("`%s --files encoder_bpe_40000.json vocab_40000.bpe --dest %s`"
            % (DOWNLOAD, params)) in line
    assert "params_0.npy" not in line and "466" not in line


def test_missing_vocabulary_in_text_names_the_files_option(tmp_path):
    from finetune_lm.util.errors import UserError
    from finetune_lm.data.text import TextEncoder
    with pytest.raises(UserError) as err:
        TextEncoder(str(tmp_path / "encoder_bpe_40000.json"), str(tmp_path / "vocab_40000.bpe"))
    assert ("%s --files encoder_bpe_40000.json vocab_40000.bpe --dest %s"
            % (DOWNLOAD, tmp_path)) in str(err.value)


def read_only_folder(tmp_path):
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        return str(folder)
    # root writes through permission bits; sysfs refuses new files even to root.
    import tempfile
    try:
        tempfile.mkstemp(dir="/sys")
    except OSError:
        return "/sys"
    pytest.skip("no read-only folder for root here")


def test_read_only_save_dir(capsys, tmp_path):
    data = rocstories_data(tmp_path / "data")
    params = standin_params(tmp_path / "params")
    ro = read_only_folder(tmp_path)
    line = error_line(capsys, ["--dataset", "rocstories", "--n_transfer", "-1", "--data_dir", data,
                               "--params_dir", params] + outputs(tmp_path)
                      + ["--save_dir", ro])
    assert "--save_dir %s is not writable" % ro in line


def test_log_dir_under_a_file(capsys, tmp_path):
    data = rocstories_data(tmp_path / "data")
    params = standin_params(tmp_path / "params")
    (tmp_path / "afile").write_text("x")
    log = str(tmp_path / "afile" / "log")
    line = error_line(capsys, ["--dataset", "rocstories", "--n_transfer", "-1", "--data_dir", data,
                               "--params_dir", params] + outputs(tmp_path) + ["--log_dir", log])
    assert "--log_dir %s: cannot create the folder" % log in line


def test_writable_folders_are_made_and_left_clean(capsys, tmp_path):
    from finetune_lm.util.files import check_writable
    folder = tmp_path / "a" / "b"
    check_writable(str(folder), "--save_dir")
    assert folder.is_dir() and os.listdir(folder) == []
    (tmp_path / "f").write_text("x")
    from finetune_lm.util.errors import UserError
    with pytest.raises(UserError, match="--save_dir .* is a file"):
        check_writable(str(tmp_path / "f"), "--save_dir")


# -- Ctrl-C -------------------------------------------------------------------------------

def test_ctrl_c_names_the_checkpoint(capsys, tmp_path, monkeypatch):
    def interrupted(args, cache=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(train, "run", interrupted)
    params = standin_params(tmp_path / "params")
    data = rocstories_data(tmp_path / "data")
    argv = ["--dataset", "rocstories", "--desc", "r", "--n_transfer", "-1", "--data_dir", data,
            "--params_dir", params] + outputs(tmp_path)
    ckpt = os.path.join(str(tmp_path / "save"), "r", "checkpoint")
    line = error_line(capsys, argv)
    assert line == ("error: interrupted before the first checkpoint (%s); re-run the same "
                    "command to start again" % ckpt)
    os.makedirs(ckpt)
    with open(os.path.join(ckpt, "latest.json"), "w") as f:
        json.dump({"prefix": "ckpt-4", "n_updates": 4, "epoch": 0, "batch": 4, "best": 50.0,
                   "args": {}, "data": None, "finished": False}, f)
    line = error_line(capsys, argv)
    assert line == ("error: interrupted; re-run the same command to resume from %s (update 4)"
                    % ckpt)


def test_ctrl_c_in_reproduce(capsys, tmp_path, monkeypatch):
    from finetune_lm import reproduce
    monkeypatch.setattr(reproduce, "reproduce", lambda args: (
        setattr(args, "desc", args.desc or args.dataset), (_ for _ in ()).throw(KeyboardInterrupt)))
    (tmp_path / "save" / "x_seed42").mkdir(parents=True)
    (tmp_path / "save" / "x_seed42" / "result.json").write_text("{}")
    assert reproduce.main(["--dataset", "rocstories", "--desc", "x", "--runs", "3"]
                          + outputs(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    ckpt = os.path.join(str(tmp_path / "save"), "x_seed43", "checkpoint")  # 42 finished
    assert err.startswith("error: interrupted before the first checkpoint (%s)" % ckpt)
    assert "finished seeds are skipped" in err


@pytest.mark.slow
def test_ctrl_c_during_training(tmp_path, gpt1_dir, rocstories_dir):
    """A real SIGINT once the first checkpoint exists: one line, exit 2."""
    args = ["--dataset", "rocstories", "--desc", "c", "--n_transfer", "-1", "--n_layer", "1",
            "--n_embd", "32", "--n_head", "4", "--n_batch", "4", "--n_gpu", "1", "--save_every",
            "1", "--params_dir", gpt1_dir, "--data_dir", rocstories_dir,
            "--no_xla"] + outputs(tmp_path)  # (the interruption is not about the kernels)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py")] + with_cache(args),
                            cwd=str(tmp_path), env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    ckpt = tmp_path / "save" / "c" / "checkpoint"
    try:
        deadline = time.time() + 300
        while not (ckpt / "latest.json").exists() and proc.poll() is None:
            assert time.time() < deadline, "no checkpoint within 300 s"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert errors[0].startswith("error: interrupted; re-run the same command to resume from %s"
                                % os.path.join(str(tmp_path / "save"), "c", "checkpoint"))


# -- resume: paths compare normalised; flags that change nothing ------------------------------

def test_trailing_slash_does_not_refuse_resume():
    from finetune_lm.training.checkpoint import differing_flags
    saved = {"save_dir": "save/", "log_dir": "./log", "data_dir": "datasets/rocstories",
             "encoder_path": "params//encoder_bpe_40000.json", "desc": "r", "seed": 42,
             "unverified_weights": False}
    current = {"save_dir": "save", "log_dir": "log", "data_dir": "datasets/rocstories/",
               "encoder_path": "params/encoder_bpe_40000.json", "desc": "r", "seed": 42,
               "unverified_weights": True}
    assert differing_flags(saved, current) == []
    assert differing_flags(saved, dict(current, save_dir="other/")) == [
        '--save_dir "save/" -> "other/"']
    assert differing_flags({"desc": "r/"}, {"desc": "r"}) == ['--desc "r/" -> "r"']


# -- output that reads like a tool ------------------------------------------------------

def test_help_shows_every_flag_with_default_and_meaning(capsys):
    parser = train.build_parser()
    with pytest.raises(SystemExit) as e:
        parser.parse_args(["--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        assert action.help, action.option_strings
        if action.nargs != 0 and action.default is not None:
            assert "(default: %s)" % action.default in text, action.option_strings
    assert "TF_CPP_MIN_LOG_LEVEL" in text


@pytest.mark.slow
def test_module_runs_the_command_line_quietly(tmp_path):
    """`python -m finetune_lm.train` is the command line; TensorFlow's start-up lines are
    hidden unless TF_CPP_MIN_LOG_LEVEL is set."""
    env = subprocess_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    proc = run_module("train", ["--dataset", "foo"], cwd=str(tmp_path), env=env, timeout=300)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        line for line in proc.stderr.splitlines() if line.startswith("error: --dataset 'foo'")]
    assert len(proc.stderr.splitlines()) == 1, proc.stderr


def test_quiet_leaves_a_users_setting(monkeypatch):
    from finetune_lm.util import quiet
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert quiet.quiet() is False
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    assert quiet.quiet(import_tf=False) is True
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


# -- ROCStories files that are not what is expected ------------------------------------------

def roc_error(capsys, tmp_path, data):
    params = standin_params(tmp_path / "params")
    return error_line(capsys, ["--dataset", "rocstories", "--n_transfer", "-1",
                               "--params_dir", params, "--data_dir", data] + outputs(tmp_path))


def test_rocstories_not_utf8(capsys, tmp_path):
    data = rocstories_data(tmp_path / "data")
    path = os.path.join(data, VAL)
    with open(path, "ab") as f:
        f.write(b"id9,\xff\xfe bad,b,c,d,e,f,1\n")
    line = roc_error(capsys, tmp_path, data)
    assert path in line and "not UTF-8" in line and "byte" in line


@pytest.mark.parametrize("n_val", [0, 10, 374])
def test_rocstories_validation_file_too_short(capsys, tmp_path, n_val):
    """Header-only, short, or exactly the 374 validation stories: nothing left to train on."""
    data = rocstories_data(tmp_path / "data", n_val=n_val)
    line = roc_error(capsys, tmp_path, data)
    assert os.path.join(data, VAL) in line and "expected more than 374" in line


def test_rocstories_header_only_test_file(capsys, tmp_path):
    data = rocstories_data(tmp_path / "data", n_test=0)
    line = roc_error(capsys, tmp_path, data)
    assert os.path.join(data, TEST) in line and "no stories" in line


def test_rocstories_folder_where_a_file_is_expected(capsys, tmp_path):
    data = rocstories_data(tmp_path / "data")
    os.remove(os.path.join(data, TEST))
    os.mkdir(os.path.join(data, TEST))
    line = roc_error(capsys, tmp_path, data)
    assert os.path.join(data, TEST) in line and "is a folder" in line


def test_best_params_that_is_not_joblib(tmp_path):
    from finetune_lm.util.errors import UserError
    from finetune_lm.lm.loader import load_params
    path = tmp_path / "best_params.jl"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(UserError) as err:
        load_params(str(path), {"model/we": [2, 2]})
    assert str(path) in str(err.value) and "joblib" in str(err.value)


def test_checkpoint_that_cannot_be_written_keeps_the_last_one(tmp_path, monkeypatch):
    """A full disk during a save: the partial files go, latest.json still names the last
    complete checkpoint, and the error says so."""
    from finetune_lm.training.checkpoint import RunCheckpoint
    from finetune_lm.util.errors import UserError
    from finetune_lm.model.hparams import HParams
    from finetune_lm.model.variables import param_shapes
    from finetune_lm.training.towers import TrainState, make_strategy
    import tensorflow as tf
    hp = HParams(n_vocab=10, n_ctx=4, n_embd=8, n_head=2, n_layer=1)
    state = TrainState(make_strategy(1), hp, param_shapes(hp))
    ckpt = RunCheckpoint(str(tmp_path / "ckpt"), state)
    meta = {"args": {}, "n_updates": 3, "epoch": 1, "batch": 0, "best": 0.0}
    ckpt.save(meta)
    real_write = ckpt.ckpt.write

    def full_disk(path):
        real_write(path)  # leaves files of the new prefix, as a save cut short would
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(ckpt.ckpt, "write", full_disk)
    with pytest.raises(UserError) as err:
        ckpt.save(dict(meta, n_updates=5))
    msg = str(err.value)
    assert "ckpt-5" in msg and "No space left" in msg and "ckpt-3 (update 3)" in msg
    assert ckpt.pointer()["prefix"] == "ckpt-3"
    assert not [f for f in os.listdir(str(tmp_path / "ckpt")) if f.startswith("ckpt-5")]
