"""Failing writes, odd flags and streams: one `error:` line (exit 2), the temporary files
removed and the target left as it was; a bug still shows its traceback. Also the first
hour without the released weights: the hints, the help text, the modes of an export,
the lock, the progress bars of a log written to a file, --submit on a finished run."""

import argparse
import errno
import io
import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from finetune_lm import convert, download, export, predict
from finetune_lm.data import task_download
from finetune_lm.lm import hf
from finetune_lm.model import release
from finetune_lm.util import errors, files, memory, progress
from finetune_lm.util.errors import UserError
from finetune_lm.util.options import add_options
from helpers import (ROOT, TINY_SIZE, error_line, fake_run, hf_folder, run_train, subprocess_env,
                     with_cache)

ENOSPC = os.strerror(errno.ENOSPC)


def enospc(path):
    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, ENOSPC, path)
    return fail


# -- the one place: errors.guarded ---------------------------------------------------------

def test_guarded_turns_user_and_write_errors_into_one_line(capsys):
    def user(_):
        raise UserError("--flag x: expected y")

    def full(_):
        raise OSError(errno.ENOSPC, ENOSPC, "/out/model.safetensors")

    def memory_error(_):
        raise MemoryError()

    assert errors.guarded(user, None) == (None, 2)
    assert capsys.readouterr().err == "error: --flag x: expected y\n"
    assert errors.guarded(full, None) == (None, 2)
    err = capsys.readouterr().err
    assert err.startswith("error: /out/model.safetensors: No space left on device; ")
    assert err.count("\n") == 1
    assert errors.guarded(memory_error, None) == (None, 2)
    assert "--n_batch" in capsys.readouterr().err
    assert errors.guarded(lambda a: a + 1, 1) == (2, 0)


def test_a_bug_keeps_its_traceback_after_one_line(capsys):
    def bug(_):
        raise KeyError("oops")

    with pytest.raises(KeyError):
        errors.guarded(bug, None)
    assert capsys.readouterr().err == "error: %s\n" % errors.REPORT
    with pytest.raises(OSError):  # an errno no write meets: a bug too
        errors.guarded(lambda _: (_ for _ in ()).throw(OSError(errno.EBADF, "bad fd")), None)


def test_command_main_checks_then_runs_and_a_bad_check_stops_before_the_run(capsys):
    def build_parser():
        p = argparse.ArgumentParser(prog="cmd")
        p.add_argument("--n", type=int, default=1)
        return p

    calls = []

    def check(args):
        calls.append(("check", args.n))
        if args.n < 0:
            raise UserError("--n %d: expected at least 0" % args.n)

    def run(args):
        calls.append(("run", args.n))

    main = errors.command_main(build_parser, run, check=check)
    assert main(["--n", "3"]) == 0 and calls == [("check", 3), ("run", 3)]
    calls.clear()
    assert main(["--n", "-1"]) == 2 and calls == [("check", -1)]
    assert capsys.readouterr().err == "error: --n -1: expected at least 0\n"
    calls.clear()
    assert errors.command_main(build_parser, run)([]) == 0 and calls == [("run", 1)]


def test_option_rows_declare_what_add_argument_would():
    rows = (("--path", "a file"), ("--k", "how many", {"type": int, "default": 3}),
            ("--on", None, {"action": "store_true"}))
    p = add_options(argparse.ArgumentParser(), rows)
    assert vars(p.parse_args([])) == {"path": None, "k": 3, "on": False}
    assert vars(p.parse_args(["--path", "x", "--k", "5", "--on"])) == {
        "path": "x", "k": 5, "on": True}
    actions = {a.dest: a for a in p._actions}
    assert (actions["path"].type, actions["path"].help) == (str, "a file")
    assert (actions["k"].type, actions["k"].help, actions["on"].help) == (int, "how many", None)


def test_a_safetensors_io_error_becomes_the_os_error(tmp_path, monkeypatch):
    import safetensors.numpy
    from safetensors import SafetensorError

    def fail(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(Os { code: 28, kind: "
                              "StorageFull, message: \"No space left on device\" }) (os error 28)")
    monkeypatch.setattr(safetensors.numpy, "save_file", fail)
    with pytest.raises(OSError) as err:
        hf.save_tensors(str(tmp_path / "m.safetensors"), {"a": np.zeros(2, np.float32)})
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(tmp_path / "m.safetensors")


# -- export: the target, a failing write, a full filesystem ----------------------------------

def previous_export(folder):
    os.makedirs(str(folder))
    (folder / hf.CONFIG).write_text("{\"old\": true}\n")
    return {hf.CONFIG: "{\"old\": true}\n"}


def listing(folder):
    return sorted(os.listdir(str(folder)))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return fake_run(tmp_path_factory.mktemp("run") / "rte", "rte", n_ctx=16, n_embd=8,
                    n_head=2)[0]


def test_export_write_fails_leaves_the_old_export(tmp_path, run_dir, monkeypatch, capsys):
    out = tmp_path / "exp"
    previous_export(out)
    monkeypatch.setattr(hf, "save_tensors", enospc(str(out / hf.SAFETENSORS)))
    line = error_line(capsys, export.main, ["--run", run_dir, "--to", "hf", str(out)])
    assert line.startswith("error: %s: No space left on device;" % (out / hf.SAFETENSORS))
    assert listing(tmp_path) == ["exp"]  # no temporary folder left
    assert listing(out) == [hf.CONFIG] and (out / hf.CONFIG).read_text() == "{\"old\": true}\n"


@pytest.mark.parametrize("target, expected", [
    (".", "is the current folder"),
    ("file.txt/exp", "file.txt is a file"),
    ("notes", "holds files but no export"),
])
def test_export_refuses_a_target_before_reading(tmp_path, run_dir, target, expected, capsys,
                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("keep\n")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep\n")
    monkeypatch.setattr(export, "load_source", lambda a: pytest.fail("read before the check"))
    line = error_line(capsys, export.main, ["--run", run_dir, "--to", "hf", target])
    assert expected in line and target.split("/")[0] in line
    assert listing(tmp_path) == ["file.txt", "notes"]
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep\n"


def test_export_refuses_a_target_holding_its_input(tmp_path, run_dir, capsys):
    parent = os.path.dirname(run_dir)
    line = error_line(capsys, export.main, ["--run", run_dir, "--to", "hf", parent])
    assert "holds it" in line and run_dir in line
    assert os.path.isfile(os.path.join(run_dir, "best_params.jl"))


def test_export_files_follow_the_umask(tmp_path, run_dir, capsys):
    old = os.umask(0o022)
    try:
        assert export.main(["--run", run_dir, "--to", "hf", str(tmp_path / "exp")]) == 0
    finally:
        os.umask(old)
    capsys.readouterr()
    assert stat.S_IMODE(os.stat(str(tmp_path / "exp")).st_mode) == 0o755
    modes = {n: stat.S_IMODE(os.stat(str(tmp_path / "exp" / n)).st_mode)
             for n in listing(tmp_path / "exp")}
    assert hf.SAFETENSORS in modes and set(modes.values()) == {0o644}, modes


@pytest.fixture
def full_fs(tmp_path):
    """A 256 kB tmpfs (root only; skipped where it cannot be mounted)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here: %s" % proc.stderr.strip())
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_export_to_a_full_filesystem(full_fs, run_dir, capsys):
    out = full_fs / "exp"
    previous_export(out)
    line = error_line(capsys, export.main, ["--run", run_dir, "--to", "hf", str(out)])
    assert "No space left on device" in line and str(full_fs) in line
    assert listing(full_fs) == ["exp"] and listing(out) == [hf.CONFIG]


def test_convert_to_a_full_filesystem(full_fs, tmp_path, capsys):
    folder, _ = hf_folder(tmp_path / "hf")
    out = full_fs / "params"
    os.makedirs(str(out))
    (out / "mine.txt").write_text("keep\n")
    line = error_line(capsys, convert.main, ["from-hf", folder, "--out", str(out)])
    assert "No space left on device" in line and str(full_fs) in line
    assert listing(full_fs) == ["params"] and listing(out) == ["mine.txt"]


def test_convert_out_under_a_file(tmp_path, capsys, monkeypatch):
    folder, _ = hf_folder(tmp_path / "hf", tokenizer=False)
    (tmp_path / "f").write_text("")
    monkeypatch.setattr(hf, "read_hf", lambda *a: pytest.fail("read before the check"))
    line = error_line(capsys, convert.main, ["from-hf", folder, "--out", str(tmp_path / "f" / "p")])
    assert "--out %s" % (tmp_path / "f" / "p") in line and "is a file" in line


# -- flags and streams ------------------------------------------------------------------------

@pytest.mark.parametrize("argv, expected", [
    (["--base_url", "http://[::1"], "--base_url 'http://[::1' is not a URL (Invalid IPv6 URL)"),
    (["--base_url", "host/path"], "--base_url 'host/path': expected an http://"),
    (["--timeout", "-1"], "--timeout -1.0: expected a positive number of seconds"),
    (["--timeout", "nan", "--task", "rte"], "--timeout nan: expected a positive number"),
])
def test_download_flags(argv, expected, tmp_path, capsys):
    line = error_line(capsys, download.main, argv + ["--dest", str(tmp_path / "d")])
    assert line == "error: " + expected or line.startswith("error: " + expected)
    assert not os.path.exists(str(tmp_path / "d"))


def test_download_failure_names_the_ways_around(tmp_path, capsys):
    import socket
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    line = error_line(capsys, download.main, ["--base_url", "http://127.0.0.1:%d/" % port,
                                              "--dest", str(tmp_path), "--no_progress",
                                              "--files", "params_0.npy", "--timeout", "5"])
    assert "cannot reach http://127.0.0.1:%d/params_0.npy" % port in line
    assert "--base_url" in line and "Hugging Face" in line and "--n_transfer -1" in line


def test_incomplete_params_mentions_from_scratch(tmp_path):
    msg = download.missing_inputs(str(tmp_path), "x", str(tmp_path), None,
                                  str(tmp_path / release.ENCODER_FILE),
                                  str(tmp_path / release.BPE_FILE))
    assert "is incomplete" in msg and "--n_transfer -1" in msg and "Hugging Face" in msg


def test_stdin_that_is_not_utf8(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"ok\t1\n\xff\xfe")))
    with pytest.raises(UserError, match=r"standard input is not UTF-8 text: byte 5 \(0xff\)"):
        files.read_stdin()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO("\ufeffé\n".encode())))
    assert files.read_stdin() == "é\n"


def test_predict_stdin_not_utf8_is_one_line(run_dir, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"sentence1\tsentence2\n\xe9\t\n")))
    line = error_line(capsys, predict.main, ["--run", run_dir, "--input", "-"])
    assert "standard input is not UTF-8 text: byte 20 (0xe9)" in line


def test_batch_against_memory():
    sizes = {"n_seq": 2, "n_ctx": 512, "n_embd": 768, "n_head": 12}
    per = memory.batch_bytes(2, 512, 768, 12)
    assert per == 4 * 2 * 512 * (8 * 768 + 12 * 512)
    memory.check_batch("--n_batch", 10, sizes, memory=10 * per)
    with pytest.raises(UserError, match=r"--n_batch 11: .* expected at most 10$"):
        memory.check_batch("--n_batch", 11, sizes, memory=10 * per)


def test_predict_huge_batch_is_one_line(run_dir, capsys):
    line = error_line(capsys, predict.main, ["--run", run_dir, "--split", "valid",
                                             "--n_batch", str(10 ** 15)])
    assert line.startswith("error: --n_batch %d: one batch needs at least" % 10 ** 15)


def test_pretrain_warmup_longer_than_the_run():
    from finetune_lm import pretrain
    assert pretrain.warmup_note(2000, 2000, 2.5e-4) is not None
    assert pretrain.warmup_note(100, 2000, 2.5e-4) is None
    note = pretrain.warmup_note(2000, 46, 2.5e-4)
    assert note.startswith("note: --lr_warmup_updates 2000 is longer than the run's 46 updates")
    assert "--lr_warmup_updates 4 " in note


# -- help, --list, the lock, progress bars ------------------------------------------------------

@pytest.mark.parametrize("command", ["train", "pretrain", "sample", "perplexity", "bench",
                                     "reproduce", "predict", "export", "convert"])
def test_help_description_is_whole(command, capsys):
    import importlib
    module = importlib.import_module("finetune_lm." + command)
    description = module.build_parser().description
    assert description.endswith("."), description  # a sentence, not cut mid-way
    with pytest.raises(SystemExit):
        module.main(["--help"])
    assert " ".join(description.split()) in " ".join(capsys.readouterr().out.split())


def test_export_help_names_both_formats(capsys):
    with pytest.raises(SystemExit):
        export.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "for Hugging Face transformers or as a TensorFlow SavedModel." in out


def test_list_says_rocstories_is_present(tmp_path):
    row = lambda: next(l for l in task_download.list_lines(str(tmp_path))  # noqa: E731
                       if l.startswith("rocstories"))
    assert "on request" in row().split(str(tmp_path))[0]
    os.makedirs(str(tmp_path / "rocstories"))
    for i, name in enumerate(task_download.ROCSTORIES_FILES):
        (tmp_path / "rocstories" / name).write_text("x\n")
        assert ("%d of 2 CSVs" % (i + 1) if i == 0 else "present (both CSVs)") in row()


def test_the_lock_goes_with_the_run(tmp_path):
    with files.RunLock(str(tmp_path), "run"):
        assert listing(tmp_path) == [".lock"]
    assert listing(tmp_path) == []
    with files.RunLock(str(tmp_path), "run"):  # and is taken again
        with pytest.raises(UserError, match="in use by another run"):
            files.RunLock(str(tmp_path), "run").__enter__()
    assert listing(tmp_path) == []


def test_no_bar_when_stderr_is_not_a_terminal():
    stream = io.StringIO()
    assert list(progress.bar(range(5), file=stream, desc="x")) == list(range(5))
    assert stream.getvalue() == ""


@pytest.mark.slow
def test_finished_run_given_submit_writes_it_without_training(tmp_path, gpt1_dir,
                                                              rocstories_subset):
    """The small from-scratch run, then --submit --analysis on it: the submission from
    its best_params.jl, no update; and a log written to a file has no carriage return."""
    tmp = str(tmp_path)
    n_test = 96
    args = ["--dataset", "rocstories", "--desc", "small", "--n_transfer", "-1"] + TINY_SIZE + [
        "--n_ctx", "24", "--n_iter", "1", "--data_dir", rocstories_subset(96, n_test),
        "--params_dir", gpt1_dir, "--no_xla"]
    with open(os.path.join(tmp, "train.log"), "w") as log:
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "train.py")] + with_cache(args),
                              cwd=tmp,
                              stdout=log, stderr=subprocess.STDOUT, timeout=900,
                              env=subprocess_env())
    text = open(os.path.join(tmp, "train.log")).read()
    assert proc.returncode == 0, text[-3000:]
    assert "\r" not in text
    assert os.path.isfile(os.path.join(tmp, "save", "small", "best_params.jl"))
    assert not os.path.exists(os.path.join(tmp, "submission", "ROCStories.tsv"))
    assert listing(tmp_path / "save" / "small") == ["best_params.jl", "checkpoint", "model.json"]
    second = run_train(args + ["--submit", "--analysis"], cwd=tmp)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "already finished" in second.stdout and "not retraining" in second.stdout
    assert "ROCStories Test Accuracy" in second.stdout
    rows = open(os.path.join(tmp, "submission", "ROCStories.tsv")).read().splitlines()
    assert rows[0] == "index\tprediction" and len(rows) == 1 + n_test  # the test set's stories
    results = json.load(open(os.path.join(tmp, "save", "small", "results.json")))
    log_lines = open(os.path.join(tmp, "log", "small.jsonl")).read().splitlines()
    assert len(log_lines) == 2  # the arguments and the one evaluation: nothing trained
    assert results["splits"]["valid"]["acc"] == json.loads(log_lines[1])["va_acc"]
