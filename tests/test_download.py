"""finetune_lm.download against a loopback HTTP server serving stand-in release files."""

import hashlib
import http.server
import json
import os
import re

import numpy as np
import pytest

from helpers import LOOPBACK_TIMEOUT, loopback_server
from finetune_lm import download as dl
from finetune_lm.model import release
from finetune_lm.util.errors import UserError

TIMEOUT = LOOPBACK_TIMEOUT
BIG = "params_3.npy"  # the stand-in large enough to cut mid-body


def _stand_ins(root):
    """Small files under the released names; returns name -> git blob id."""
    os.makedirs(root)
    with open(os.path.join(root, release.ENCODER_FILE), "w") as f:
        json.dump({"a": 0, "b</w>": 1, "ab": 2}, f)
    with open(os.path.join(root, release.BPE_FILE), "w") as f:
        f.write("#version: 0.2\na b\n")
    with open(os.path.join(root, release.SHAPES_FILE), "w") as f:
        json.dump([[4, 3], [3]], f)
    rng = np.random.RandomState(0)
    for i, name in enumerate(release.SHARD_FILES):
        n = 10000 if name == BIG else 16 + i
        np.save(os.path.join(root, name), rng.randn(n).astype(np.float32))
    return {name: release.git_blob_id(os.path.join(root, name)) for name in release.FILES}


@pytest.fixture
def server(tmp_path):
    blob_ids = _stand_ins(str(tmp_path / "served"))
    with loopback_server(str(tmp_path / "served")) as srv:
        srv.blob_ids = blob_ids
        yield srv


def _get(server, dest, files=release.FILES):
    return dl.download(str(dest), base_url=server.url, files=files, blob_ids=server.blob_ids,
                       progress=False, timeout=TIMEOUT)


def _verified(server, dest, name):
    return release.git_blob_id(os.path.join(str(dest), name)) == server.blob_ids[name]


def _count(server, name):
    return server.counts.get("/model/" + name, 0)


def test_fetches_all_and_second_run_fetches_nothing(server, tmp_path, capsys):
    dest = tmp_path / "params"
    paths = _get(server, dest)
    assert paths == [os.path.join(str(dest), n) for n in release.FILES]
    assert sorted(os.listdir(dest)) == sorted(release.FILES)  # no .part left
    assert all(_verified(server, dest, n) for n in release.FILES)
    assert all(_count(server, n) == 1 for n in release.FILES)
    assert all(r is None for _, r in server.ranges)
    before = dict(server.counts)
    capsys.readouterr()
    assert _get(server, dest) == paths
    assert server.counts == before
    assert capsys.readouterr().out.count("skipped") == len(release.FILES)


def test_corrupt_download_is_rejected(server, tmp_path):
    dest = tmp_path / "params"
    name = "params_5.npy"
    server.corrupt.add(name)
    with pytest.raises(UserError) as e:
        _get(server, dest, files=[name])
    msg = str(e.value)
    assert name in msg and server.blob_ids[name] in msg and server.url + name in msg
    got = re.search(r"blob id ([0-9a-f]{40})", msg).group(1)
    assert got != server.blob_ids[name]
    assert "\n" not in msg
    assert not os.path.exists(dest / name)
    assert not os.path.exists(dest / (name + ".part"))
    # Once the server is fixed, the same call succeeds.
    server.corrupt.clear()
    _get(server, dest, files=[name])
    assert _verified(server, dest, name)


@pytest.mark.parametrize("range_enabled", [True, False])
def test_interrupted_fetch_resumes(server, tmp_path, range_enabled):
    dest = tmp_path / "params"
    server.range_enabled = range_enabled
    cut = 1000
    server.cut_once[BIG] = cut
    with pytest.raises(UserError) as e:
        _get(server, dest, files=[release.SHARD_FILES[0], BIG, release.SHARD_FILES[9]])
    msg = str(e.value)
    assert "re-run" in msg and BIG in msg and "\n" not in msg
    part = dest / (BIG + ".part")
    assert os.path.getsize(part) == cut
    assert not os.path.exists(dest / BIG)
    assert _count(server, release.SHARD_FILES[9]) == 0  # stopped at the broken file

    _get(server, dest, files=[release.SHARD_FILES[0], BIG, release.SHARD_FILES[9]])
    assert server.ranges[-2] == ("/model/" + BIG, "bytes=%d-" % cut)
    assert _count(server, BIG) == 2  # one resume request, no refetch
    assert _count(server, release.SHARD_FILES[0]) == 1  # already verified: skipped
    assert all(_verified(server, dest, n)
               for n in (release.SHARD_FILES[0], BIG, release.SHARD_FILES[9]))
    assert not os.path.exists(part)


def test_stale_part_is_deleted_and_refetched_whole(server, tmp_path, capsys):
    dest = tmp_path / "params"
    os.makedirs(dest)
    part = dest / (BIG + ".part")
    part.write_bytes(b"garbage!" * 50)
    _get(server, dest, files=[BIG])
    assert _verified(server, dest, BIG)
    assert not os.path.exists(part)
    path = "/model/" + BIG
    assert [r for p, r in server.ranges if p == path] == ["bytes=400-", None]
    assert "whole file again" in capsys.readouterr().out


def test_part_longer_than_file_restarts(server, tmp_path):
    dest = tmp_path / "params"
    os.makedirs(dest)
    name = "params_1.npy"
    (dest / (name + ".part")).write_bytes(b"x" * 100000)  # server answers 416
    _get(server, dest, files=[name])
    assert _verified(server, dest, name)
    assert not os.path.exists(dest / (name + ".part"))


def test_stale_part_and_corrupt_server_gives_up_after_one_refetch(server, tmp_path):
    dest = tmp_path / "params"
    os.makedirs(dest)
    name = "params_2.npy"
    (dest / (name + ".part")).write_bytes(b"junk")
    server.corrupt.add(name)
    with pytest.raises(UserError, match="expected " + server.blob_ids[name]):
        _get(server, dest, files=[name])
    assert _count(server, name) == 2
    assert os.listdir(dest) == []


def test_present_but_corrupt_file_is_refetched(server, tmp_path):
    dest = tmp_path / "params"
    os.makedirs(dest)
    name = release.ENCODER_FILE
    (dest / name).write_text('{"not": "the released encoder"}')
    _get(server, dest, files=[name, release.BPE_FILE])
    assert _verified(server, dest, name) and _verified(server, dest, release.BPE_FILE)
    assert _count(server, name) == 1
    assert server.ranges[0] == ("/model/" + name, None)


def test_404_is_a_user_error(server, tmp_path, capsys):
    dest = tmp_path / "params"
    os.remove(os.path.join(server.root, "params_7.npy"))
    with pytest.raises(UserError) as e:
        _get(server, dest, files=["params_7.npy"])
    msg = str(e.value)
    assert "404" in msg and server.url + "params_7.npy" in msg and "\n" not in msg
    assert not os.path.exists(dest / "params_7.npy.part")

    capsys.readouterr()
    rc = dl.main(["--dest", str(dest), "--base_url", server.url, "--files", "params_7.npy",
                  "--timeout", str(TIMEOUT)])
    assert rc == 2  # every user error, in every command
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "404" in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_unreachable_host_is_a_user_error(tmp_path, capsys):
    srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = srv.server_address[1]
    srv.server_close()  # nothing listens on this port now
    url = "http://127.0.0.1:%d/model/" % port
    rc = dl.main(["--dest", str(tmp_path / "p"), "--base_url", url, "--files", "params_0.npy",
                  "--timeout", str(TIMEOUT), "--no_progress"])
    assert rc == 2  # every user error, in every command
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach " + url + "params_0.npy")
    assert "Traceback" not in err


def test_main_downloads_with_progress(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(release, "BLOB_IDS", server.blob_ids)
    dest = tmp_path / "params"
    rc = dl.main(["--dest", str(dest), "--base_url", server.url.rstrip("/"),
                  "--timeout", str(TIMEOUT)])
    assert rc == 0
    assert dl.missing_files(str(dest)) == []
    assert all(_verified(server, dest, n) for n in release.FILES)


def test_unknown_file_name(tmp_path):
    with pytest.raises(UserError, match="no git blob id known for params_99.npy"):
        dl.download(str(tmp_path), files=["params_99.npy"], progress=False)


def test_missing_files(tmp_path):
    present = [release.ENCODER_FILE, "params_0.npy", "params_9.npy"]
    for name in present:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "params_1.npy.part").write_bytes(b"x")  # a .part is not the file
    os.makedirs(tmp_path / "params_2.npy")  # nor is a folder
    expected = [n for n in release.FILES if n not in present]
    assert dl.missing_files(str(tmp_path), release.FILES) == expected
    assert dl.missing_files(str(tmp_path)) == expected
    assert dl.missing_files(str(tmp_path / "absent"), ["params_0.npy"]) == ["params_0.npy"]


def test_vocabulary_only(server, tmp_path, monkeypatch, capsys):
    """`--files` with the two vocabulary names fetches just those (--n_transfer -1)."""
    monkeypatch.setattr(release, "BLOB_IDS", server.blob_ids)
    dest = tmp_path / "params"
    rc = dl.main(["--dest", str(dest), "--base_url", server.url, "--no_progress",
                  "--timeout", str(TIMEOUT), "--files", release.ENCODER_FILE, release.BPE_FILE])
    assert rc == 0
    assert sorted(os.listdir(dest)) == sorted([release.ENCODER_FILE, release.BPE_FILE])
    assert all(_count(server, n) == 0 for n in release.FILES[2:])


def test_interrupted_main_says_rerun(monkeypatch, tmp_path, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(dl, "download", interrupted)
    assert dl.main(["--dest", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: interrupted; re-run `%s`" % release.DOWNLOAD_COMMAND)
    assert err.count("\n") == 1


def test_fetch_command():
    vocab = [release.ENCODER_FILE, release.BPE_FILE]
    assert dl.fetch_command("p/", vocab) == (
        "python -m finetune_lm.download --files encoder_bpe_40000.json vocab_40000.bpe --dest p/")
    assert dl.fetch_command("p/", [release.BPE_FILE]) == (
        "python -m finetune_lm.download --files vocab_40000.bpe --dest p/")
    assert dl.fetch_command("p/", vocab + ["params_0.npy"]) == (
        "python -m finetune_lm.download --dest p/")


def _manifest(folder, names):
    entries = {}
    for name in names:
        (folder / name).write_bytes(name.encode())
        entries[name] = {"bytes": len(name), "sha256": hashlib.sha256(name.encode()).hexdigest()}
    (folder / "manifest.json").write_text(json.dumps({"files": entries}))


def test_missing_files_with_a_manifest(tmp_path):
    """A folder carrying its own manifest needs the weight files and what it lists; the
    vocabulary may live elsewhere (--encoder_path, --bpe_path)."""
    weights = [release.SHAPES_FILE] + release.SHARD_FILES
    _manifest(tmp_path, weights)
    assert dl.missing_files(str(tmp_path)) == []
    os.remove(tmp_path / "params_3.npy")
    assert dl.missing_files(str(tmp_path)) == ["params_3.npy"]
    _manifest(tmp_path, weights + [release.ENCODER_FILE, "extra.txt"])
    os.remove(tmp_path / "extra.txt")
    assert dl.missing_files(str(tmp_path)) == ["extra.txt"]
    # Without a manifest: the 13 release files.
    os.remove(tmp_path / "manifest.json")
    assert dl.missing_files(str(tmp_path)) == [release.BPE_FILE]


def test_missing_inputs(tmp_path):
    data = tmp_path / "data"
    params = tmp_path / "params"
    enc, bpe = str(params / release.ENCODER_FILE), str(params / release.BPE_FILE)
    # Nothing at all, no weights wanted: the vocabulary command, and the data named too.
    msg = dl.missing_inputs(str(data), "the task's files", str(params), -1, enc, bpe)
    assert msg.startswith("both the data and the model files are missing: %s" % data)
    assert "the task's files" in msg
    assert ("`python -m finetune_lm.download --files encoder_bpe_40000.json vocab_40000.bpe "
            "--dest %s`" % params) in msg
    assert "params_0.npy" not in msg
    # A data folder holding only its README is no data either.
    data.mkdir()
    (data / "README.md").write_text("how to get the data")
    msg = dl.missing_inputs(str(data), "x", str(params), 12, enc, bpe)
    assert msg.startswith("both the data") and str(data / "README.md") in msg
    assert all(n in msg for n in release.FILES)
    assert "`python -m finetune_lm.download --dest %s`" % params in msg
    # With data: the weights alone.
    (data / "some.csv").write_text("x")
    msg = dl.missing_inputs(str(data), "x", str(params), 12, enc, bpe)
    assert msg.startswith("%s is incomplete, missing encoder_bpe_40000.json" % params)
    # A vocabulary elsewhere is named by its flag.
    params.mkdir()
    for name in release.FILES:
        (params / name).write_bytes(b"x")
    assert dl.missing_inputs(str(data), "x", str(params), 12, enc, bpe) is None
    msg = dl.missing_inputs(str(data), "x", str(params), 12, str(tmp_path / "e.json"), bpe)
    assert msg == "--encoder_path %s not found" % (tmp_path / "e.json")
