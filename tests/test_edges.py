"""The edges: runs that cannot trample each other, outputs that are never stale,
checks before the slow work, sizes read from the files that hold them, no silent wrong
result, one error line for every bad flag, and --help that says what each flag means."""

import argparse
import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import (TEST, VAL, error_line, make_params, progress_bar, run_train, write_csv)
from finetune_lm import flags, perplexity, pretrain, sample, train
from finetune_lm.data import inputs
from finetune_lm.model import release
from finetune_lm.model.hparams import HParams
from finetune_lm.model.variables import param_shapes
from finetune_lm.tasks import get_task, glue
from finetune_lm.training import analysis
from finetune_lm.training.checkpoint import Resume
from finetune_lm.util.errors import UserError
from finetune_lm.util.files import RunLock

COMMANDS = ("train", "pretrain", "sample", "perplexity", "bench", "reproduce", "zeroshot",
            "download")


def train_error(capsys, argv):
    return error_line(capsys, train.main, argv, allow=lambda line: progress_bar(line) or
                      line.startswith(("warning: loading the weights in ", "note: ")))


def stories(folder, n_val=400, n_test=8):
    """ROCStories files of a few short stories (the real layout)."""
    folder.mkdir(parents=True, exist_ok=True)

    def row(i, answer):
        return ["id%d" % i, "Tom went out.", "It rained.", "He ran.", "He got wet.",
                "He was happy.", "He was sad.", answer]
    write_csv(folder / VAL, [row(i, "12"[i % 2]) for i in range(n_val)])
    write_csv(folder / TEST, [row(i, "21"[i % 2]) for i in range(n_test)])
    return str(folder)


def vocab(gpt1_dir):
    return ["--encoder_path", os.path.join(gpt1_dir, release.ENCODER_FILE),
            "--bpe_path", os.path.join(gpt1_dir, release.BPE_FILE)]


def tiny_folder(folder, gpt1_dir, n_ctx=64, n_embd=32, n_head=4, n_layer=2):
    """A released-format folder as pretrain writes it (manifest with the sizes), with
    the real vocabulary."""
    from finetune_lm.lm.folder import write_params_dir
    hp = HParams(n_vocab=release.N_VOCAB, n_special=0, n_ctx=n_ctx, n_embd=n_embd,
                 n_head=n_head, n_layer=n_layer)
    arrays = list(make_params(param_shapes(hp)).values())
    return write_params_dir(str(folder), arrays, hp, os.path.join(gpt1_dir, release.ENCODER_FILE),
                            os.path.join(gpt1_dir, release.BPE_FILE))


def base_args(tmp_path, data):
    return ["--dataset", "rocstories", "--data_dir", data, "--log_dir", str(tmp_path / "log"),
            "--save_dir", str(tmp_path / "save"), "--submission_dir", str(tmp_path / "sub")]


# -- runs that cannot trample each other -----------------------------------------------------

def test_a_second_run_of_one_desc_is_refused_naming_the_holder(tmp_path, capsys, gpt1_dir):
    data = stories(tmp_path / "roc")
    run_dir = tmp_path / "save" / "tiny"
    with RunLock(str(run_dir), "run 'tiny'"):
        line = train_error(capsys, base_args(tmp_path, data) + [
            "--desc", "tiny", "--n_transfer", "-1", "--n_layer", "1", "--n_embd", "8",
            "--n_head", "2", "--n_batch", "2", "--n_gpu", "1", "--params_dir", gpt1_dir])
    assert "in use by another run (pid %d" % os.getpid() in line and "--desc" in line


def test_a_lock_left_by_a_dead_run_is_taken_over_with_one_line(tmp_path, capsys):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").write_text(dead)
    with RunLock(str(tmp_path / "run"), "run 'x'"):
        assert open(tmp_path / "run" / ".lock").read() == str(os.getpid())
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "taking over the lock of run 'x' from pid %s" % dead in err
    with RunLock(str(tmp_path / "run"), "run 'x'"):  # released cleanly: taken silently
        pass
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("desc", ["../../x", "a/b", "..", ""])
def test_desc_is_a_name(tmp_path, capsys, desc, gpt1_dir):
    line = train_error(capsys, base_args(tmp_path, stories(tmp_path / "roc")) + [
        "--desc", desc, "--n_transfer", "-1", "--params_dir", gpt1_dir])
    assert "--desc" in line and "without '/'" in line
    assert not os.path.exists(tmp_path / "x") and not os.path.exists(tmp_path.parent / "x")


def test_changed_data_is_named_and_refused():
    resume = Resume("save/run/checkpoint", {})
    resume.check_data({"data": None}, {"train": "a"})  # a checkpoint from before: nothing to compare
    resume.check_data({"data": {"train": "a", "test": "b"}}, {"train": "a", "test": "b"})
    with pytest.raises(UserError, match=r"data changed .*\(test: other examples\)"):
        resume.check_data({"data": {"train": "a", "test": "b"}}, {"train": "a", "test": "c"})


def test_split_key_follows_texts_labels_and_ids(tmp_path):
    task = get_task("rocstories")
    split = task.load(stories(tmp_path / "a"))["test"]
    key = inputs.split_key(task, split)
    assert key == inputs.split_key(task, task.load(stories(tmp_path / "b"))["test"])
    assert key != inputs.split_key(task, task.load(stories(tmp_path / "c", n_test=3))["test"])


def test_claim_submission_names_the_run_it_replaces(tmp_path):
    path = str(tmp_path / "ROCStories.tsv")
    assert analysis.claim_submission(path, "a") is None  # no file yet
    open(path, "w").write("index\tprediction\n")
    assert analysis.claim_submission(path, "a") is None  # its own file
    assert analysis.claim_submission(path, "b") == "a"
    assert analysis.claim_submission(path, "b") is None


@pytest.mark.slow
def test_finished_run_on_changed_data_and_a_shared_submission(tmp_path, gpt1_dir):
    """A finished run rerun after its test file changed is refused (not `already
    finished`); a second desc replacing the same submission file says so; each log
    names its submission files."""
    data = stories(tmp_path / "roc")
    args = base_args(tmp_path, data) + [
        "--n_transfer", "-1", "--n_layer", "1", "--n_embd", "8", "--n_head", "2", "--n_ctx", "16",
        "--n_batch", "2", "--n_gpu", "2", "--n_iter", "1", "--submit", "--params_dir", gpt1_dir,
        "--cache_dir", "", "--no_xla"]  # (XLA's compile would be most of these runs' time)
    first = run_train(args + ["--desc", "a"], cwd=str(tmp_path))
    assert first.returncode == 0, first.stderr[-2000:]
    sub = str(tmp_path / "sub" / "ROCStories.tsv")
    assert first.stdout.splitlines()[-1] == "submission: wrote %s" % sub
    second = run_train(args + ["--desc", "b"], cwd=str(tmp_path))
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.splitlines()[-1] == "submission: wrote %s (replacing the file run 'a' wrote)" % sub
    log = json.loads(open(tmp_path / "log" / "a.jsonl").readline())
    assert log["submissions"] == [sub] and log["inputs"]["test"]["examples"] == 8
    stories(tmp_path / "roc", n_test=3)  # the test file changes
    again = run_train(args + ["--desc", "a"], cwd=str(tmp_path))
    assert again.returncode == 2 and "already finished" not in again.stdout
    errors = [line for line in again.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "data changed" in errors[0] and "test" in errors[0]


# -- checks before the slow work; sizes from the files --------------------------------------

def resolved(tmp_path, folder, *argv):
    args = train.build_parser().parse_args(["--dataset", "rocstories", "--params_dir", folder,
                                            "--unverified_weights"] + list(argv))
    flags.vocabulary_paths(args)
    train.resolve_sizes(args)
    return args


def test_sizes_come_from_the_folder(tmp_path, gpt1_dir):
    folder = tiny_folder(tmp_path / "lm", gpt1_dir, n_ctx=64, n_embd=32, n_head=4, n_layer=2)
    args = resolved(tmp_path, folder)
    assert (args.n_layer, args.n_embd, args.n_head, args.n_ctx, args.n_transfer) == (2, 32, 4, 64, 2)
    args = resolved(tmp_path, folder, "--n_transfer", "1")  # the original's partial transfer
    assert (args.n_layer, args.n_transfer) == (2, 1)


@pytest.mark.parametrize("flag, value, words", [
    ("--n_embd", "768", "--n_embd 768 does not fit the weights in %s, whose width is 32"),
    ("--n_head", "12", "--n_head 12 does not fit the weights in %s, whose heads is 4"),
    ("--n_ctx", "512", "--n_ctx 512 is more than the 64 positions of the weights in %s"),
    ("--n_transfer", "3", "--n_transfer 3 is more than the 2 layers of the weights in %s")])
def test_flags_that_contradict_the_folder_are_refused_before_encoding(
        tmp_path, capsys, gpt1_dir, flag, value, words):
    folder = tiny_folder(tmp_path / "lm", gpt1_dir)
    line = train_error(capsys, base_args(tmp_path, stories(tmp_path / "roc")) + [
        "--params_dir", folder, flag, value] + vocab(gpt1_dir))
    assert words % folder in line
    assert not os.path.exists(tmp_path / "save" / "rocstories")  # nothing encoded or written


def test_unverified_weights_whose_shapes_do_not_fit_are_refused_before_encoding(
        tmp_path, capsys, gpt1_dir):
    folder = tiny_folder(tmp_path / "lm", gpt1_dir)
    os.remove(os.path.join(folder, "manifest.json"))
    line = train_error(capsys, base_args(tmp_path, stories(tmp_path / "roc")) + [
        "--params_dir", folder, "--unverified_weights", "--n_embd", "64", "--n_head", "4"]
        + vocab(gpt1_dir))
    assert "--n_embd 64 does not fit" in line and "width is 32" in line
    assert "encoding" not in capsys.readouterr().err


def test_pretrain_init_from_of_another_width_is_refused_before_encoding(tmp_path, capsys, gpt1_dir):
    folder = tiny_folder(tmp_path / "lm", gpt1_dir, n_ctx=16)
    corpus = tmp_path / "c.txt"
    corpus.write_text("one two three four five.\n" * 50)
    base = ["--corpus", str(corpus), "--desc", "d", "--init_from", folder, "--params_dir", gpt1_dir,
            "--log_dir", str(tmp_path / "log"), "--save_dir", str(tmp_path / "save"),
            "--cache_dir", str(tmp_path / "cache"), "--n_layer", "2", "--n_head", "4"]
    line = error_line(capsys, pretrain.main, base + ["--n_embd", "64", "--n_ctx", "16"])
    assert "--init_from %s has 32 width; --n_embd is 64" % folder in line
    line = error_line(capsys, pretrain.main, base + ["--n_embd", "32", "--n_ctx", "32"])
    assert "has 16 positions; --n_ctx 32 needs as many" in line
    assert not os.path.exists(tmp_path / "cache")  # the corpus was never encoded


def test_pretrain_out_that_cannot_be_written_is_refused_at_start(tmp_path, capsys, gpt1_dir):
    corpus = tmp_path / "c.txt"
    corpus.write_text("one two three.\n")
    (tmp_path / "file").write_text("x")
    line = error_line(capsys, pretrain.main, [
        "--corpus", corpus, "--desc", "d", "--out", tmp_path / "file", "--params_dir", gpt1_dir,
        "--save_dir", tmp_path / "save", "--log_dir", tmp_path / "log"])
    assert "--out %s is a file" % (tmp_path / "file") in line


def test_sample_reads_model_json_beside_a_checkpoint(tmp_path, gpt1_dir):
    from finetune_lm.lm.folder import load_checkpoint
    hp = HParams(n_vocab=release.N_VOCAB, n_special=3, n_ctx=8, n_embd=16, n_head=4, n_layer=1)
    arrays = list(make_params(param_shapes(hp)).values()) + [np.zeros([16, 1], np.float32),
                                                              np.zeros([1], np.float32)]
    import joblib
    joblib.dump(arrays, tmp_path / "best_params.jl")
    (tmp_path / "model.json").write_text(json.dumps({
        "n_vocab": release.N_VOCAB, "n_special": 3, "n_ctx": 8, "n_embd": 16, "n_head": 4,
        "n_layer": 1, "head": "choice", "n_seq": 2, "n_out": 1, "task": "rocstories"}))
    _, got = load_checkpoint(str(tmp_path / "best_params.jl"), release.N_VOCAB)
    assert got.n_head == 4 and got.n_ctx == 8


def test_sample_length_names_the_models_own_positions(tmp_path, capsys, gpt1_dir):
    folder = tiny_folder(tmp_path / "lm", gpt1_dir, n_ctx=64)
    line = error_line(capsys, sample.main, ["--prompt", "hi", "--params_dir", folder,
                                            "--length", "100000"])
    assert "past the model's 64 positions" in line and "512" not in line


def test_sample_top_k_past_the_vocabulary_is_one_line(tmp_path, capsys, gpt1_dir):
    folder = tiny_folder(tmp_path / "lm", gpt1_dir, n_ctx=16, n_embd=16, n_head=2, n_layer=1)
    line = error_line(capsys, sample.main, ["--prompt", "hi", "--params_dir", folder,
                                            "--top_k", "100000", "--length", "4"])
    assert "--top_k 100000 is more than the 40478 tokens" in line


@pytest.mark.parametrize("argv, words", [(["--stride", "0"], "--stride 0"),
                                         (["--workers", "-1"], "--workers -1")])
def test_perplexity_refuses_a_zero_stride_and_negative_workers(tmp_path, capsys, gpt1_dir, argv,
                                                               words):
    folder = tiny_folder(tmp_path / "lm", gpt1_dir, n_ctx=16, n_embd=16, n_head=2, n_layer=1)
    text = tmp_path / "t.txt"
    text.write_text("one two three four five six.\n")
    line = error_line(capsys, perplexity.main, [text, "--params_dir", folder, "--cache_dir",
                                                tmp_path / "cache"] + argv)
    assert words in line


# -- no silent wrong results ---------------------------------------------------------------------

def test_a_glue_row_with_a_stray_tab_is_refused_naming_file_and_line(tmp_path):
    folder = tmp_path / "SST-2"
    folder.mkdir()
    (folder / "train.tsv").write_text("sentence\tlabel\na fine film \t1\na dull one \t0\n")
    (folder / "dev.tsv").write_text("sentence\tlabel\ngood \t1\n")
    (folder / "test.tsv").write_text("index\tsentence\n0\tgood\n1\ta\ttab inside\n")
    with pytest.raises(UserError, match=r"test\.tsv, line 3: 3 fields, but the header has 2"):
        get_task("sst2").load(str(folder))


def test_mnli_rows_with_extra_label_fields_stay_readable():
    assert any(t.name == "mnli" for t in glue.TASKS)  # its label is LAST: no field limit


def test_truncated_and_empty_inputs_are_counted(tmp_path):
    task = get_task("sst2")
    split = type("S", (), {})()
    split.labels, split.index, split.groups = np.array([0, 1, 0]), [0, 1, 2], None
    split.__len__ = None
    ids = [[5] * 30, [], [7, 8]]
    offsets = np.cumsum([0] + [len(x) for x in ids])
    fields = {"sentence": (np.array(sum(ids, []), np.int64), offsets)}

    class Split:
        labels, index, groups = np.array([0, 1, 0]), [0, 1, 2], None

        def __len__(self):
            return 3
    enc = inputs.transform_split(task, fields, Split(), (100, 101, 102), 12)
    assert (enc.truncated, enc.max_dropped, enc.empty) == (1, 20, 1)
    report, lines = inputs.input_report({"train": enc}, 12)
    assert report == {"train": {"examples": 3, "truncated": 1, "max_dropped": 20, "empty": 1}}
    assert lines == ["train: 1 of 3 examples cut to fit --n_ctx 12 (at most 20 tokens cut from "
                     "one sequence)", "train: 1 of 3 examples have a text that encodes to no token"]


# -- one error line for a bad flag; --help ---------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_flag_is_one_error_line(command, capsys):
    module = importlib.import_module("finetune_lm." + command)
    required = {"pretrain": ["--corpus", "x", "--desc", "d"], "sample": ["--prompt", "x"],
                "perplexity": ["x.txt"]}.get(command, [])
    with pytest.raises(SystemExit) as exit:
        module.main(required + ["--no_such_flag"])
    assert exit.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--no_such_flag" in err[0]
    assert "--help" in err[0]


@pytest.mark.parametrize("command", COMMANDS[:-1])
def test_help_names_the_command_and_means_every_flag(command):
    module = importlib.import_module("finetune_lm." + command)
    parser = module.build_parser()
    assert parser.prog == ("python train.py" if command == "train"
                           else "python -m finetune_lm." + command)
    for action in parser._actions:
        assert action.help, (command, action.option_strings)
    text = parser.format_help()
    assert "(default: None)" not in text
    assert text.count("(default:") >= 5
    assert parser.description.rstrip().endswith(".")


def test_train_help_lists_the_tasks():
    text = train.build_parser().format_help()
    for name in ("rocstories", "rte", "race", "stsb", "mnli"):
        assert name in text


def test_pretrain_checks_the_dropout_and_adam_flags(tmp_path, capsys):
    for argv, words in ((["--embd_pdrop", "1"], "--embd_pdrop 1"), (["--b2", "1"], "--b2 1"),
                        (["--e", "0"], "--e 0")):
        line = error_line(capsys, pretrain.main, ["--corpus", "x", "--desc", "d"] + argv)
        assert words in line


def test_one_table_of_checks_for_every_command():
    args = argparse.Namespace(embd_pdrop=1.0)
    with pytest.raises(UserError, match="--embd_pdrop 1"):
        flags.check(args)
