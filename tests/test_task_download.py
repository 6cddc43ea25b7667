"""`python -m finetune_lm.download --task NAME` against a loopback HTTP server, serving
archives built here in the distributions' layouts (zip and tar.gz, with their real top
folders), the pinned sizes and SHA-256 replaced by the test archives' own; and the
source table itself (every task: a source, a size, a cited checksum or row counts)."""

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import zipfile

import pytest

from helpers import LOOPBACK_TIMEOUT, data_dir, loopback_server
from finetune_lm import download as dl
from finetune_lm.data import task_download as td
from finetune_lm.tasks import all_tasks, get_task

TIMEOUT = LOOPBACK_TIMEOUT


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    with loopback_server(str(root)) as srv:
        yield srv


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def serve(server, monkeypatch, name, files, kind=None, top_extra=None, pin=True):
    """Build the archive of source `name` from {path in archive: text} (zip or tar.gz as
    the source is), serve it, and pin its size and SHA-256 (pin=False: the real pins)."""
    source = td.SOURCES[name]
    (archive,) = source.archives
    buf = io.BytesIO()
    kind = kind or source.kind
    if kind == "zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for path, text in files.items():
                z.writestr(path, text.encode("utf-8") if isinstance(text, str) else text)
    else:
        with tarfile.open(fileobj=buf, mode="w:gz") as t:
            for path, text in files.items():
                data = text.encode("utf-8")
                info = tarfile.TarInfo(path)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    with open(os.path.join(server.root, archive.name), "wb") as f:
        f.write(data)
    if pin:
        pinned = td.dataclasses.replace(archive, size=len(data), sha256=sha256(data),
                                        cited="this test")
        monkeypatch.setitem(td.SOURCES, name, td.dataclasses.replace(source, archives=(pinned,)))
    return data


def run(server, dest, *tasks, extra=()):
    argv = ["--task"] + list(tasks) + ["--dest", str(dest), "--base_url", server.url,
                                       "--timeout", str(TIMEOUT), "--no_progress"]
    return dl.main(argv + list(extra))


def one_error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.strip()


def requests(server, name):
    return server.counts.get("/model/" + name, 0)


# --- archives in the official layouts -------------------------------------------

SST_HEADER = "sentence\tlabel\n"


def sst2_files(top="SST-2", n_train=16):
    words = ["good", "bad", "fine", "dull", "great", "awful", "nice", "poor"]
    train = "".join("a %s film . \t%d\n" % (words[i % 8], i % 2) for i in range(n_train))
    dev = "".join("the %s plot . \t%d\n" % (words[i % 8], i % 2) for i in range(8))
    test = "index\tsentence\n" + "".join("%d\tan %s ending .\n" % (i, words[i]) for i in range(4))
    return {top + "/train.tsv": SST_HEADER + train, top + "/dev.tsv": SST_HEADER + dev,
            top + "/test.tsv": test, top + "/original/README.txt": "SST",
            "__MACOSX/%s/._train.tsv" % top: "resource fork"}


def snli_files():
    def line(i, label):
        return json.dumps({"annotator_labels": [label], "captionID": "c%d" % i,
                           "gold_label": label, "pairID": "p%d" % i,
                           "sentence1": "A man %d walks." % i, "sentence2": "Someone moves.",
                           "sentence1_parse": "", "sentence2_parse": "",
                           "sentence1_binary_parse": "", "sentence2_binary_parse": ""})
    labels = ["entailment", "neutral", "contradiction", "-"]
    out = {"snli_1.0/README.txt": "SNLI 1.0", "__MACOSX/snli_1.0/._README.txt": "x"}
    for split, n in (("train", 12), ("dev", 8), ("test", 8)):
        out["snli_1.0/snli_1.0_%s.jsonl" % split] = "".join(
            line(i, labels[i % 4]) + "\n" for i in range(n))
        out["snli_1.0/snli_1.0_%s.txt" % split] = "gold_label\tsentence1\n"
    return out


def scitail_files():
    out = {"SciTailV1.1/README.txt": "SciTail", "SciTailV1.1/snli_format/x.txt": "{}"}
    for split, n in (("train", 10), ("dev", 4), ("test", 6)):
        out["SciTailV1.1/tsv_format/scitail_1.0_%s.tsv" % split] = "".join(
            "Plants make food %d.\tPlants use light.\t%s\n" % (i, ("entails", "neutral")[i % 2])
            for i in range(n))
    return out


def race_files():
    out = {}
    for split in ("train", "dev", "test"):
        for level in ("middle", "high"):
            for k in (1, 2):
                out["RACE/%s/%s/%d.txt" % (split, level, k)] = json.dumps({
                    "answers": ["A", "C"], "options": [["a", "b", "c", "d"]] * 2,
                    "questions": ["Why?", "Who?"], "article": "A story %d." % k,
                    "id": "%s%d.txt" % (level, k)})
    return out


# --- the table ---------------------------------------------------------------------

def test_every_task_has_a_source_a_size_and_a_cited_checksum_or_row_counts():
    for name, s in td.SOURCES.items():
        assert s.name == name and s.archives and s.folder and s.kind in (
            "zip", "tar.gz", "file", "files", "mrpc")
        for a in s.archives:
            assert re.match(r"^https?://[^ ]+/[^/ ]+$", a.url), a
            assert isinstance(a.size, int) and a.size > 0, a
            if a.sha256 is not None:
                assert re.fullmatch(r"[0-9a-f]{64}", a.sha256), a
                # The record it comes from: a repository at a commit, and the file.
                assert re.search(r"[\w-]+/[\w-]+@[0-9a-f]{40} \S+", a.cited), a
            else:
                assert s.rows and all(f in s.rows for f in s.files), (name, a)
        assert s.files or s.dirs
    # Every task train.py runs, but ROCStories, is downloadable, into its default folder.
    for task in all_tasks().values():
        source = td.for_dataset(task.name)
        if task.name == "rocstories":
            assert source is None
            continue
        assert source is not None, task.name
        assert os.path.normpath(source.data_dir) == os.path.normpath(task.folder), task.name
    # Every archive the README promises, pinned to its public record.
    cited = {a.name: a.cited for s in td.SOURCES.values() for a in s.archives}
    for name in ("snli_1.0.zip", "SciTailV1.1.zip", "RACE.tar.gz", "CoLA.zip", "AX.tsv"):
        assert td.HF_COMMIT in cited[name]
    assert td.SOURCES["cola"].archives[0].sha256.startswith("f212fcd8")
    assert td.SOURCES["cola"].archives[0].size == 376971


def test_names_expand():
    assert td.expand(["glue"]) == ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "diagnostic",
                                   "qnli", "rte", "wnli"]
    assert td.expand(["all"])[-3:] == ["snli", "scitail", "race"]
    assert td.expand(["mnli"]) == ["mnli", "diagnostic"]  # MNLI's --submit writes AX.tsv
    assert td.expand(["rte", "rte", "rocstories"]) == ["rte"]
    assert set(td.NAMES) >= {"cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte",
                             "snli", "scitail", "race", "wnli", "glue", "all", "rocstories"}


def test_real_pins_verify_the_official_files_at_hand():
    """The pinned SHA-256 of MRPC's three files and AX.tsv equal those of the official
    files in the shared data (TASKS.md: level A)."""
    mrpc = data_dir("glue/MRPC")
    files = {"msr_paraphrase_train.txt": os.path.join(mrpc, "msr_paraphrase_train.txt"),
             "msr_paraphrase_test.txt": os.path.join(mrpc, "msr_paraphrase_test.txt"),
             "mrpc_dev_ids.tsv": os.path.join(mrpc, "dev_ids.tsv"),
             "AX.tsv": os.path.join(data_dir("glue/diagnostic"), "diagnostic.tsv")}
    archives = {a.name: a for s in td.SOURCES.values() for a in s.archives}
    for name, path in files.items():
        assert td.archive_problem(path, archives[name]) is None, name


# --- fetching, verifying, laying out --------------------------------------------

def test_mrpc_with_the_real_checksums_as_download_glue_data_lays_it_out(server, tmp_path,
                                                                        capsys):
    """The official MRPC files, served under their names and verified by the real pins,
    split into train/dev/test byte for byte as GLUE's script does; read by the loader."""
    mrpc = data_dir("glue/MRPC")
    for name, src in (("msr_paraphrase_train.txt", "msr_paraphrase_train.txt"),
                      ("msr_paraphrase_test.txt", "msr_paraphrase_test.txt"),
                      ("mrpc_dev_ids.tsv", "dev_ids.tsv")):
        shutil.copy(os.path.join(mrpc, src), os.path.join(server.root, name))
    dest = tmp_path / "datasets"
    assert run(server, dest, "mrpc") == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "datasets/MRPC: 6 files" in out and "sha256 as pinned" in out
    for name in ("train.tsv", "dev.tsv", "test.tsv", "dev_ids.tsv"):
        with open(os.path.join(mrpc, name), "rb") as a, open(dest / "MRPC" / name, "rb") as b:
            assert a.read() == b.read(), name
    split = get_task("mrpc").load(str(dest / "MRPC"))
    assert [len(split[k]) for k in ("train", "valid", "test")] == [3668, 408, 1725]
    assert sorted(os.listdir(dest)) == ["MRPC"]  # no .downloads left
    # Already verified: not fetched again.
    before = dict(server.counts)
    assert run(server, dest, "mrpc") == 0
    assert server.counts == before
    assert "present and verified, skipped" in capsys.readouterr().out


def test_format_mrpc_split_logic(tmp_path):
    header = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    (tmp_path / "msr_paraphrase_train.txt").write_text(
        header + "1\t10\t11\tA b .\tA c .\n0\t12\t13\tD .\tE . \n1\t14\t15\tF\tG\n",
        encoding="utf-8")
    (tmp_path / "msr_paraphrase_test.txt").write_text(header + "1\t20\t21\tH\tI\n",
                                                      encoding="utf-8")
    (tmp_path / "dev_ids.tsv").write_text("12\t13\n", encoding="utf-8")
    td.format_mrpc(str(tmp_path))
    assert (tmp_path / "train.tsv").read_text(encoding="utf-8") == (
        header + "1\t10\t11\tA b .\tA c .\n1\t14\t15\tF\tG\n")
    assert (tmp_path / "dev.tsv").read_text(encoding="utf-8") == header + "0\t12\t13\tD .\tE .\n"
    assert (tmp_path / "test.tsv").read_text(encoding="utf-8") == (
        "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t20\t21\tH\tI\n")


def test_zip_and_tar_layouts_read_by_the_loaders_from_their_default_folders(
        server, tmp_path, monkeypatch, capsys):
    serve(server, monkeypatch, "snli", snli_files())
    serve(server, monkeypatch, "scitail", scitail_files())
    serve(server, monkeypatch, "race", race_files())
    dest = tmp_path / "datasets"
    assert run(server, dest, "snli", "scitail", "race") == 0, capsys.readouterr().err
    assert sorted(os.listdir(dest)) == ["RACE", "SciTailV1.1", "snli_1.0"]
    assert not os.path.exists(dest / "__MACOSX")
    assert not os.path.exists(dest / "snli_1.0" / "._README.txt")
    for name, sizes in (("snli", [9, 6, 6]), ("scitail", [10, 4, 6]), ("race", [8, 8, 8])):
        task = get_task(name)
        split = task.load(os.path.join(str(dest), task.folder))  # train.py's default, under dest
        assert [len(split[k]) for k in ("train", "valid", "test")] == sizes, name
    lines = {l.split()[0]: l for l in td.list_lines(str(dest))}
    assert "present, verified" in lines["race"] and "absent" in lines["cola"]
    assert "on request" in lines["rocstories"]


@pytest.mark.parametrize("range_enabled", [True, False])
def test_interrupted_download_resumes(server, tmp_path, monkeypatch, capsys, range_enabled):
    data = serve(server, monkeypatch, "sst2", sst2_files(n_train=400))
    server.range_enabled = range_enabled
    server.cut_once["SST-2.zip"] = cut = len(data) // 2
    dest = tmp_path / "datasets"
    assert run(server, dest, "sst2") == 2
    err = one_error(capsys)
    assert "SST-2.zip" in err and "re-run" in err
    assert os.listdir(dest) == [".downloads"]  # nothing where train.py reads
    assert os.listdir(dest / ".downloads") == ["SST-2.zip.part"]
    assert os.path.getsize(dest / ".downloads" / "SST-2.zip.part") == cut
    assert run(server, dest, "sst2") == 0, capsys.readouterr().err
    assert server.ranges[-1] == ("/model/SST-2.zip", "bytes=%d-" % cut)
    assert requests(server, "SST-2.zip") == 2
    assert sorted(os.listdir(dest)) == ["SST-2"]
    assert td.state(td.SOURCES["sst2"], str(dest))[0] == "verified"


def test_checksum_mismatch_is_refused_and_leaves_nothing(server, tmp_path, monkeypatch, capsys):
    serve(server, monkeypatch, "sst2", sst2_files())
    source = td.SOURCES["sst2"]
    wrong = td.dataclasses.replace(source.archives[0], sha256="0" * 64)
    monkeypatch.setitem(td.SOURCES, "sst2", td.dataclasses.replace(source, archives=(wrong,)))
    dest = tmp_path / "datasets"
    assert run(server, dest, "sst2") == 2
    err = one_error(capsys)
    assert "SST-2.zip from %sSST-2.zip does not verify: sha256 " % server.url in err
    assert "expected " + "0" * 64 in err and "deleted it" in err
    assert os.listdir(dest) == []


def test_truncated_archive_is_refused(server, tmp_path, monkeypatch, capsys):
    data = serve(server, monkeypatch, "sst2", sst2_files())
    with open(os.path.join(server.root, "SST-2.zip"), "wb") as f:
        f.write(data[:-100])  # served whole, as the server has it: 100 bytes short
    dest = tmp_path / "datasets"
    assert run(server, dest, "sst2") == 2
    err = one_error(capsys)
    assert "%d bytes, expected %d" % (len(data) - 100, len(data)) in err
    assert os.listdir(dest) == []


def test_unpinned_archive_is_checked_by_row_counts(server, tmp_path, monkeypatch, capsys):
    serve(server, monkeypatch, "sst2", sst2_files())
    source = td.SOURCES["sst2"]
    unpinned = td.dataclasses.replace(source.archives[0], sha256=None)
    rows = {"train.tsv": (16, 1), "dev.tsv": (8, 1), "test.tsv": (4, 1)}
    monkeypatch.setitem(td.SOURCES, "sst2", td.dataclasses.replace(
        source, archives=(unpinned,), rows=dict(rows, **{"dev.tsv": (872, 1)})))
    dest = tmp_path / "datasets"
    assert run(server, dest, "sst2") == 2
    err = one_error(capsys)
    assert "SST-2/dev.tsv has 8 rows, expected 872" in err and "no public checksum" in err
    assert os.listdir(dest) == []
    monkeypatch.setitem(td.SOURCES, "sst2", td.dataclasses.replace(
        source, archives=(unpinned,), rows=rows))
    assert run(server, dest, "sst2") == 0
    out = capsys.readouterr().out
    assert "NOT pinned" in out and "row counts checked" in out
    assert "NOT pinned: row counts" in [l for l in td.list_lines(str(dest))
                                        if l.startswith("sst2")][0]


@pytest.mark.parametrize("files, what", [
    (sst2_files(top="sst2_data"), "holds sst2_data at its top; expected the folder SST-2/"),
    ({k: v for k, v in sst2_files().items() if not k.endswith("test.tsv")},
     "SST-2/ lacks test.tsv"),
])
def test_unexpected_layout_is_refused_and_leaves_nothing(server, tmp_path, monkeypatch, capsys,
                                                         files, what):
    serve(server, monkeypatch, "sst2", files)
    dest = tmp_path / "datasets"
    assert run(server, dest, "sst2") == 2
    err = one_error(capsys)
    assert what in err and "SST-2.zip" in err and "refused" in err
    assert os.listdir(dest) == []


def test_archive_reaching_outside_its_folder_is_refused(server, tmp_path, monkeypatch, capsys):
    files = dict(sst2_files())
    files["SST-2/../../evil.txt"] = "x"
    serve(server, monkeypatch, "sst2", files)
    dest = tmp_path / "datasets"
    assert run(server, dest, "sst2") == 2
    assert "outside its folder" in one_error(capsys)
    assert os.listdir(dest) == [] and not os.path.exists(tmp_path / "evil.txt")


def test_ctrl_c_while_unpacking_leaves_nothing_that_looks_complete(server, tmp_path, monkeypatch,
                                                                   capsys):
    serve(server, monkeypatch, "race", race_files())
    dest = tmp_path / "datasets"
    real = td.check_layout

    def interrupted(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(td, "check_layout", interrupted)
    assert run(server, dest, "race") == 2
    err = one_error(capsys)
    assert "interrupted" in err and "--task race" in err
    assert os.listdir(dest) == [".downloads"]
    assert os.listdir(dest / ".downloads") == ["RACE.tar.gz"]  # verified, kept for the re-run
    monkeypatch.setattr(td, "check_layout", real)
    assert run(server, dest, "race") == 0
    assert requests(server, "RACE.tar.gz") == 1  # the verified archive was used again
    assert sorted(os.listdir(dest)) == ["RACE"]


def test_folder_not_laid_out_here_is_refused_before_fetching(server, tmp_path, monkeypatch,
                                                             capsys):
    serve(server, monkeypatch, "sst2", sst2_files())
    dest = tmp_path / "datasets"
    (dest / "SST-2").mkdir(parents=True)
    (dest / "SST-2" / "train.tsv").write_text("mine")
    assert run(server, dest, "sst2") == 2
    assert "did not lay out" in one_error(capsys)
    assert server.counts == {}
    assert (dest / "SST-2" / "train.tsv").read_text() == "mine"
    lines = [l for l in td.list_lines(str(dest)) if l.startswith("sst2")]
    assert "present, not verified" in lines[0]
    # A folder holding only a README is no data: laid out, README kept.
    shutil.rmtree(dest / "SST-2")
    (dest / "SST-2").mkdir()
    (dest / "SST-2" / "README.md").write_text("notes")
    assert run(server, dest, "sst2") == 0
    assert (dest / "SST-2" / "README.md").read_text() == "notes"
    assert (dest / "SST-2" / "train.tsv").is_file()


def test_a_folder_that_no_longer_verifies_is_fetched_again(server, tmp_path, monkeypatch, capsys):
    serve(server, monkeypatch, "sst2", sst2_files())
    dest = tmp_path / "datasets"
    assert run(server, dest, "sst2") == 0
    os.remove(dest / "SST-2" / "dev.tsv")
    st, detail = td.state(td.SOURCES["sst2"], str(dest))
    assert st == "stale" and "dev.tsv is missing" in detail
    capsys.readouterr()
    assert run(server, dest, "sst2") == 0
    assert "dev.tsv is missing; fetching it again" in capsys.readouterr().out
    assert requests(server, "SST-2.zip") == 2
    assert (dest / "SST-2" / "dev.tsv").is_file()
    assert sorted(os.listdir(dest)) == ["SST-2"]


def test_rocstories_and_qnli_v1_are_one_line(tmp_path, capsys):
    assert dl.main(["--task", "rocstories", "--dest", str(tmp_path)]) == 2
    err = one_error(capsys)
    assert "on request" in err and "rocstories" in err and "cs.rochester.edu" in err
    assert dl.main(["--task", "qnli", "--version", "1", "--dest", str(tmp_path)]) == 2
    err = one_error(capsys)
    assert "QNLI v1" in err and "108436" in err and "--version 2" in err
    assert dl.main(["--task", "cola", "--files", "vocab_40000.bpe"]) == 2
    assert "--files" in one_error(capsys)
    assert os.listdir(tmp_path) == []


def test_list(tmp_path, capsys):
    assert dl.main(["--list", "--dest", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [l.split()[0] for l in out] == list(td.SOURCES) + ["rocstories"]
    qnli = [l for l in out if l.startswith("qnli")][0]
    assert "QNLIv2.zip" in qnli and "v1" in qnli and "10.6 MB" in qnli


def test_train_names_the_download_command(tmp_path):
    assert td.missing_data("rte", "datasets/RTE") == (
        "datasets/RTE holds no RTE data: run `python -m finetune_lm.download --task rte`")
    assert td.data_command("scitail", "/d/SciTailV1.1/tsv_format/") == (
        "python -m finetune_lm.download --task scitail --dest /d")
    assert td.data_command("snli", "snli_1.0") == (
        "python -m finetune_lm.download --task snli --dest .")
    assert td.data_command("rte", "mine/rte") is None
    assert "lays them out in datasets/RTE; then drop --data_dir" in td.missing_data("rte", "x/y")
    assert td.missing_data("rocstories", str(tmp_path / "none")) is None
    (tmp_path / "RTE").mkdir()
    (tmp_path / "RTE" / "train.tsv").write_text("x")
    assert td.missing_data("rte", str(tmp_path / "RTE")) is None  # the loader names each file


# The tiny run of test_tasks_e2e.py.
TINY = ["--n_transfer", "-1", "--n_layer", "1", "--n_embd", "32", "--n_head", "2",
        "--n_iter", "1", "--n_gpu", "2", "--n_batch", "4", "--no_xla", "--submit", "--analysis"]


@pytest.mark.slow
def test_train_reads_what_the_download_laid_out(server, tmp_path, monkeypatch, capsys):
    """download --task sst2, then train.py --dataset sst2 with no --data_dir (a tiny model
    from scratch; only the vocabulary is needed)."""
    from finetune_lm import train
    gpt1 = data_dir("gpt1")
    serve(server, monkeypatch, "sst2", sst2_files())
    monkeypatch.chdir(tmp_path)
    argv = ["--dataset", "sst2", "--params_dir", gpt1] + TINY
    assert train.main(argv) == 2
    err = capsys.readouterr().err
    assert "`python -m finetune_lm.download --task sst2`" in err
    assert dl.main(["--task", "sst2", "--base_url", server.url, "--no_progress"]) == 0
    assert os.path.isdir("datasets/SST-2")
    assert train.main(argv) == 0, capsys.readouterr().err[-2000:]
    out = capsys.readouterr().out
    assert "SST-2 Valid Accuracy:" in out
    with open("submission/SST-2.tsv") as f:
        rows = f.read().splitlines()
    assert rows[0] == "index\tprediction" and len(rows) == 5


def test_datasets_readme_lists_every_pin():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "datasets", "README.md"), encoding="utf-8") as f:
        text = f.read()
    for s in td.SOURCES.values():
        assert "`%s`" % s.name in text, s.name
        for a in s.archives:
            assert a.name in text and "{:,}".format(a.size) in text and a.sha256[:12] in text, a


MNLI_DEV_HEADER = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse",
                   "sentence2_binary_parse", "sentence1_parse", "sentence2_parse", "sentence1",
                   "sentence2", "label1", "label2", "label3", "label4", "label5", "gold_label"]
OTHER = {"entailment": "neutral", "neutral": "contradiction", "contradiction": "entailment"}


def mnli_files():
    """{file name: text} of an MNLI folder from the GLUE-format samples (test_tasks_glue.py's
    mnli_folder, without the diagnostic set): train.tsv, the 12-column train sample plus a
    ragged 16-field row; dev_*, the 16-column layout; test_*, the 10-column one."""
    samples = os.path.join(data_dir("glue/MNLI"), "glue_format_samples")

    def rows(name):
        with open(os.path.join(samples, name), encoding="utf-8", newline="") as f:
            lines = f.read().split("\n")
        return [line.split("\t") for line in (lines[:-1] if lines[-1] == "" else lines)]

    def text(rows):
        return "\n".join("\t".join(f) for f in rows) + "\n"

    def dev_rows(rows):
        return [f[:10] + [OTHER[f[-1]], f[-1], f[-1], f[-1], OTHER[f[-1]], f[-1]] for f in rows]

    train, dev = rows("lmbff_16-42_train.tsv"), rows("lmbff_16-42_dev_matched.tsv")
    r = dev[1]
    ragged = r[:10] + [OTHER[r[-1]], r[-1], r[-1], OTHER[r[-1]], r[-1], r[-1]]
    return {"train.tsv": text(train + [ragged]),
            "dev_matched.tsv": text([MNLI_DEV_HEADER] + dev_rows(dev[1::2])),
            "dev_mismatched.tsv": text([MNLI_DEV_HEADER] + dev_rows(dev[2::2])),
            "test_matched.tsv": text([f[:10] for f in [train[0]] + dev[1:6]]),
            "test_mismatched.tsv": text([f[:10] for f in [train[0]] + dev[6:9]])}


def test_mnli_brings_the_diagnostic_set_beside_it(server, tmp_path, monkeypatch, capsys):
    """--task mnli: MNLI.zip (built here from the GLUE-format samples) and the real AX.tsv
    (verified by its real pin), saved as diagnostic/diagnostic.tsv beside MNLI/, where
    the loader finds it for AX.tsv."""
    files = {"MNLI/" + name: text for name, text in mnli_files().items()}
    serve(server, monkeypatch, "mnli", files)
    shutil.copy(os.path.join(data_dir("glue/diagnostic"), "diagnostic.tsv"),
                os.path.join(server.root, "AX.tsv"))
    dest = tmp_path / "datasets"
    assert run(server, dest, "mnli") == 0, capsys.readouterr().err
    assert sorted(os.listdir(dest)) == ["MNLI", "diagnostic"]
    split = get_task("mnli").load(str(dest / "MNLI"))
    assert len(split["ax"]) == 1104 and len(split["valid"]) == 24
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("name", ["sst2", "race"])
def test_unreadable_archive_is_refused(server, tmp_path, monkeypatch, capsys, name):
    """Bytes that verify (pinned to themselves) but are no zip / tar.gz: one line, nothing
    left."""
    source = td.SOURCES[name]
    data = b"not an archive at all\n" * 50
    with open(os.path.join(server.root, source.archives[0].name), "wb") as f:
        f.write(data)
    pinned = td.dataclasses.replace(source.archives[0], size=len(data), sha256=sha256(data))
    monkeypatch.setitem(td.SOURCES, name, td.dataclasses.replace(source, archives=(pinned,)))
    dest = tmp_path / "datasets"
    assert run(server, dest, name) == 2
    err = one_error(capsys)
    assert "%s is not a readable %s archive" % (pinned.name, source.kind) in err
    assert os.listdir(dest) == []


def test_dprd_with_the_real_checksums_lands_where_its_reader_reads(server, tmp_path, capsys):
    """--task dprd: the two shared DPRD files, served under their names and verified by
    the real pins (Hugging Face's record), laid out byte for byte in datasets/DPRD/, read
    by tasks/dprd.py (1322 and 564 examples); a corrupt file is refused."""
    from finetune_lm.tasks import dprd
    shared = data_dir("dprd")
    for name in ("train.c.txt", "test.c.txt"):
        shutil.copy(os.path.join(shared, name), os.path.join(server.root, name))
    dest = tmp_path / "datasets"
    assert run(server, dest, "dprd") == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "datasets/DPRD: 2 files from train.c.txt, test.c.txt (size and sha256 as pinned)" in out
    for name in ("train.c.txt", "test.c.txt"):
        with open(os.path.join(shared, name), "rb") as a, open(dest / "DPRD" / name, "rb") as b:
            assert a.read() == b.read(), name
    splits = dprd.load(str(dest / "DPRD"))
    assert [len(splits[k]) for k in ("train", "test")] == [1322, 564]
    server.corrupt.add("test.c.txt")
    other = tmp_path / "other"
    assert run(server, other, "dprd") == 2
    err = one_error(capsys)
    assert "test.c.txt" in err and "does not verify" in err and "sha256" in err
    assert not os.path.isdir(other / "DPRD")
