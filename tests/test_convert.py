"""finetune_lm.convert from-hf: a Hugging Face GPT-1 folder (openai-community/openai-gpt
layout, made up here at a tiny width with the real vocabulary) to the released format,
the .npy headers as numpy wrote them in 2018, the release check and the manifest; and
the same folder taken directly as --params_dir / --init_from."""

import json
import os
import struct

import numpy as np
import pytest

from finetune_lm import convert
from finetune_lm.lm import hf, loader, weights
from finetune_lm.model import release
from finetune_lm.model.variables import BLOCK_PARAMS
from finetune_lm.util.errors import UserError
from helpers import C, N_LAYER, N_VOCAB, data_dir, hf_folder

def test_block_keys_follow_the_release_order():
    assert [name for name, _ in hf.BLOCK_KEYS] == list(BLOCK_PARAMS)


def test_from_hf_writes_the_released_format(tmp_path, capsys):
    src, released = hf_folder(tmp_path / "hf")
    out = str(tmp_path / "params")
    assert convert.main(["from-hf", src, "--out", out]) == 0
    stdout = capsys.readouterr().out
    shapes = [list(a.shape) for a in released]
    with open(os.path.join(out, "params_shapes.json")) as f:
        assert f.read() == json.dumps(shapes)  # as the release writes it
    got = weights.load_shards(out, shapes, blob_ids=None)
    assert all(np.array_equal(a, b) for a, b in zip(got, released))
    flat = np.concatenate([a.ravel() for a in released])
    for name, chunk in zip(release.SHARD_FILES, np.array_split(flat, 10)):
        data = open(os.path.join(out, name), "rb").read()
        (hlen,) = struct.unpack("<H", data[8:10])
        header = data[10:10 + hlen].decode("latin1")
        assert data[:8] == b"\x93NUMPY\x01\x00" and (10 + hlen) % 16 == 0 and header.endswith("\n")
        assert header.rstrip() == "{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }" % chunk.size
        assert data[10 + hlen:] == chunk.tobytes()
        assert np.array_equal(np.load(os.path.join(out, name)), chunk)
    # Not the release: a manifest, and the folder loads as weights that are not the release.
    assert weights.verify_params_dir(out, 0) == "manifest"
    assert "NOT verified against the release" in stdout
    # The vocabulary files are written byte for byte as the release's.
    for name in (release.ENCODER_FILE, release.BPE_FILE):
        assert release.git_blob_id(os.path.join(out, name)) == release.BLOB_IDS[name]
    assert "the release's, by their git blob ids" in stdout


def test_npy_header_of_2018_for_the_released_shard_sizes():
    import io
    for n in (7, 11653478, 11653479):
        head = hf.npy_bytes_2018(np.zeros(n, np.float32))
        assert len(head) % 16 == 0 and head.endswith(b"\n")
        modern = io.BytesIO()
        np.save(modern, np.zeros(n, np.float32))
        assert len(modern.getvalue()) - 4 * n == 128  # numpy >= 1.14 pads to 64
    head = hf.npy_bytes_2018(np.zeros(11653479, np.float32))
    assert len(head) == 80 and head.endswith(b", }     \n")


def test_prefix_specials_and_release_ids(tmp_path, capsys, monkeypatch):
    src, released = hf_folder(tmp_path / "hf", prefix="transformer.", extra_rows=3)
    out = str(tmp_path / "a")
    convert.from_hf(src, out)
    stdout = capsys.readouterr().out
    assert "the 3 token rows after vocab.json's 40478 entries" in stdout
    shapes = json.load(open(os.path.join(out, "params_shapes.json")))
    assert shapes[1] == [N_VOCAB, C]
    got = weights.load_shards(out, shapes, blob_ids=None)
    assert all(np.array_equal(a, b) for a, b in zip(got, released))
    # Where every file has the release's blob id, the folder is the release: no manifest.
    ids = {n: release.git_blob_id(os.path.join(out, n)) for n in release.FILES}
    monkeypatch.setattr(release, "BLOB_IDS", ids)
    out2 = str(tmp_path / "b")
    convert.from_hf(src, out2)
    assert "is the release (verified)" in capsys.readouterr().out
    assert not os.path.exists(os.path.join(out2, "manifest.json"))
    with pytest.raises(UserError, match="--force"):
        convert.from_hf(src, out2)


def test_errors_name_the_key(tmp_path, capsys):
    from safetensors.numpy import save_file
    d = tmp_path / "gpt2"
    d.mkdir()
    save_file({"wte.weight": np.zeros((4, 2), np.float32)}, str(d / "model.safetensors"))
    assert convert.main(["from-hf", str(d), "--out", str(tmp_path / "o")]) == 2
    assert "GPT-2's layout" in capsys.readouterr().err
    src, _ = hf_folder(tmp_path / "hf", tokenizer=False)
    from safetensors.numpy import load_file
    t = load_file(os.path.join(src, "model.safetensors"))
    del t["h.1.ln_2.bias"]
    save_file(t, os.path.join(src, "model.safetensors"))
    assert convert.main(["from-hf", src, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "h.1.ln_2.bias" in err and err.count("\n") == 1
    t["h.1.ln_2.bias"] = np.zeros(C, np.float16)
    save_file(t, os.path.join(src, "model.safetensors"))
    assert convert.main(["from-hf", src, "--out", str(tmp_path / "o")]) == 2
    assert "expected float32" in capsys.readouterr().err


def test_hf_folder_as_params_dir(tmp_path, capsys):
    """train.py's, sample's and pretrain's loading path reads a Hugging Face folder as it
    reads its conversion."""
    from finetune_lm import train
    from finetune_lm.lm.folder import init_arrays, load_params_dir
    from finetune_lm.model.hparams import HParams
    src, released = hf_folder(tmp_path / "hf")
    out = str(tmp_path / "params")
    convert.from_hf(src, out, log=lambda s: None)
    assert weights.verify_params_dir(src, N_LAYER) == "hf"
    assert "not verified against the release" in capsys.readouterr().err
    hp = HParams(n_vocab=N_VOCAB, n_ctx=20, n_embd=C, n_head=2, n_layer=N_LAYER)
    np.random.seed(0)
    a = loader.transfer_arrays(src, hp, N_LAYER)
    np.random.seed(0)
    b = loader.transfer_arrays(out, hp, N_LAYER)
    assert len(a) == 1 + 12 * N_LAYER and all(np.array_equal(x, y) for x, y in zip(a, b))
    (x, hpx), (y, hpy) = (load_params_dir(d, N_VOCAB) for d in (src, out))
    assert hpx == hpy and hpx.n_head == 2 and all(np.array_equal(p, q) for p, q in zip(x, y))
    hp2 = hp.replace(n_special=0)
    assert all(np.array_equal(p, q) for p, q in zip(init_arrays(src, hp2, N_VOCAB),
                                                    init_arrays(out, hp2, N_VOCAB)))
    # train.py's checks: the vocabulary is the folder's vocab.json / merges.txt.
    roc = data_dir("rocstories")
    args = train.check_args(train.build_parser().parse_args(
        ["--dataset", "rocstories", "--data_dir", roc, "--params_dir", src, "--n_embd", str(C),
         "--n_layer", str(N_LAYER), "--n_transfer", str(N_LAYER), "--n_head", "2", "--log_dir", str(tmp_path / "log"),
         "--save_dir", str(tmp_path / "save")]))
    assert args.encoder_path == os.path.join(src, "vocab.json")
    assert args.bpe_path == os.path.join(src, "merges.txt")
