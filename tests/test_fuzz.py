"""Fuzzed flag values for every command, in process through each command's main: each
value of a flag's type (huge and negative integers, NaN, infinities, odd text) ends in
success or in one `error:` line with exit status 2, never a traceback. The slow work
(TensorFlow, the model, the network) is replaced by a stub that stops the command once
its checks have passed: what is fuzzed is the layer that must answer first."""

import argparse
import importlib
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finetune_lm.util.errors import REPORT
from helpers import TEST, VAL, data_dir, fake_run, hf_folder, write_csv

EXAMPLES = int(os.environ.get("FINETUNE_LM_FUZZ_EXAMPLES", 20))  # per command: well under a minute in all


class Reached(Exception):
    """The stub of a command's slow work: the checks let the value through."""


def stop(*args, **kwargs):
    raise Reached()


TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=12)
INTS = st.one_of(st.integers(-3, 3), st.integers(-2 ** 70, 2 ** 70), st.integers(10 ** 300, 10 ** 400))
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(
    [0.0, -0.0, 1.0, -1.0, 1e-320, 1e308]))


def values(action):
    """Strings of a flag's type, well-formed and not."""
    if action.choices:
        return st.one_of(st.sampled_from([str(c) for c in action.choices]), TEXT)
    if action.type is int:
        return st.one_of(INTS.map(str), TEXT)
    if action.type is float:
        return st.one_of(FLOATS.map(repr), INTS.map(str), TEXT)
    return TEXT


def valued_flags(parser):
    return [a for a in parser._actions if a.option_strings and a.nargs != 0
            and not isinstance(a, argparse._HelpAction) and a.dest != "help"]


def check_one_line_or_success(main, argv, capsys):
    capsys.readouterr()  # what an example before it left
    try:
        code = main(argv)
    except Reached:
        code = 0
    except SystemExit as e:  # argparse: a malformed value
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    if code == 2:
        assert len(errors) == 1, (argv, err)
        assert errors[0] != "error: " + REPORT
    else:
        assert code in (0, None), (argv, code, err)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The files each command's baseline reads: a tiny ROCStories, the vocabulary, a run,
    a Hugging Face folder, a corpus."""
    gpt1 = data_dir("gpt1")
    base = tmp_path_factory.mktemp("fuzz")
    roc = base / "roc"
    roc.mkdir()
    rows = [["id%d" % i, "A.", "B.", "C.", "D.", "E.", "F.", "1"] for i in range(40)]
    write_csv(roc / VAL, rows)
    write_csv(roc / TEST, rows)
    run_dir = fake_run(base / "run", "rte", n_ctx=16, n_embd=8, n_head=2)[0]
    hf_dir = hf_folder(base / "hf", tokenizer=False)[0]
    (base / "corpus.txt").write_text("one two three\n\nfour five\n")
    return {"base": str(base), "gpt1": gpt1, "roc": str(roc), "run": run_dir, "hf": hf_dir,
            "corpus": str(base / "corpus.txt")}


def baselines(w):
    """command -> (argv that passes every check, {module attribute: stub})."""
    return {
        "train": (["--dataset", "rocstories", "--data_dir", w["roc"], "--params_dir", w["gpt1"],
                   "--n_transfer", "-1", "--n_layer", "1", "--n_embd", "8", "--n_head", "2",
                   "--n_batch", "2", "--n_gpu", "1"], {"train.run": stop}),
        "reproduce": (["--dataset", "rocstories", "--data_dir", w["roc"], "--params_dir",
                       w["gpt1"], "--n_transfer", "-1", "--n_layer", "1", "--n_embd", "8",
                       "--n_head", "2", "--n_batch", "2", "--n_gpu", "1", "--runs", "1"],
                      {"train.run": stop}),
        "pretrain": (["--corpus", w["corpus"], "--desc", "p", "--encoder_path",
                      os.path.join(w["gpt1"], "encoder_bpe_40000.json"), "--bpe_path",
                      os.path.join(w["gpt1"], "vocab_40000.bpe")], {"pretrain.pretrain": stop}),
        "sample": (["--prompt", "x", "--params_dir", w["gpt1"]], {"flags.load_model": stop}),
        "perplexity": ([w["corpus"], "--params_dir", w["gpt1"]], {"flags.load_model": stop}),
        "bench": ([], {"bench.run": stop}),
        "download": (["--dest", os.path.join(w["base"], "dl")],
                     {"download.download": stop, "data.task_download.download_tasks": stop}),
        "predict": (["--run", w["run"], "--split", "valid"], {"predict.run": stop}),
        "export": (["--run", w["run"], "--to", "hf", os.path.join(w["base"], "exp")],
                   {"export.run": stop}),
        "convert": (["from-hf", w["hf"], "--out", os.path.join(w["base"], "conv")],
                    {"lm.hf.read_hf": stop}),
    }


COMMANDS = ("train", "reproduce", "pretrain", "sample", "perplexity", "bench", "download",
            "predict", "export", "convert")


@pytest.mark.parametrize("command", COMMANDS)
def test_fuzzed_flag_is_success_or_one_line(command, world, capsys, monkeypatch):
    module = importlib.import_module("finetune_lm." + command)
    argv, stubs = baselines(world)[command]
    for target, stub in stubs.items():
        where, name = target.rsplit(".", 1)
        monkeypatch.setattr(importlib.import_module("finetune_lm." + where), name, stub)
    monkeypatch.chdir(world["base"])  # whatever a fuzzed path creates stays in there
    parser = module.build_parser()
    if command == "convert":
        parser = parser._subparsers._group_actions[0].choices["from-hf"]
    flags = valued_flags(parser)
    check_one_line_or_success(module.main, argv, capsys)  # the baseline passes its checks

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(st.data())
    def fuzz(data):
        action = data.draw(st.sampled_from(flags), label="flag")
        value = data.draw(values(action), label="value")
        flag = action.option_strings[-1]
        extra = ["%s=%s" % (flag, value)] if action.nargs is None else [flag, value or "x"]
        check_one_line_or_success(module.main, (["from-hf"] if command == "convert" else [])
                                  + extra + argv[1 if command == "convert" else 0:], capsys)

    fuzz()
