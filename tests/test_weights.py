"""finetune_lm.lm.weights against full-size stand-ins of the released GPT-1 weight files.

The stand-ins are written in exactly the released format (docs/fidelity.md, "Released
weights"): `params_shapes.json` with the 146 shapes and one flat float32 stream of
116,534,784 seeded random values cut into 10 `.npy` files.  Every loaded array is
compared with the slice of that stream where the released layout puts it, so a
mapping error (wrong offset, order, or name) shows up as a content mismatch.
"""

import hashlib
import json
import os

import joblib
import numpy as np
import pytest

from helpers import TEST, VAL, run_train, write_csv
from finetune_lm.lm import loader, weights
from finetune_lm.model import release
from finetune_lm.model import variables
from finetune_lm.model.hparams import HParams
from finetune_lm.training.objectives import FineTuning
from finetune_lm.util.errors import UserError

N_FLOATS = 116534784
N_EMBD = 768
N_POS = 512
N_VOCAB = 40478
N_LAYER = 12
SHARDS = ["params_%d.npy" % i for i in range(10)]
DOWNLOAD = "python -m finetune_lm.download"
ROC_HEAD = dict(head="choice", n_seq=2, n_out=1)  # ROCStories' head: clf/w [C, 1]


def param_shapes(hp):
    """The variables of fine-tuning with ROCStories' head, in checkpoint order (the
    transformer's, then the head's), at hp's sizes."""
    return FineTuning(hp.replace(**ROC_HEAD)).param_shapes()

# Per-layer arrays, in file order, with their shapes (docs/fidelity.md).
BLOCK = [
    ("attn/c_attn/w", [1, N_EMBD, 3 * N_EMBD]),
    ("attn/c_attn/b", [3 * N_EMBD]),
    ("attn/c_proj/w", [1, N_EMBD, N_EMBD]),
    ("attn/c_proj/b", [N_EMBD]),
    ("ln_1/g", [N_EMBD]),
    ("ln_1/b", [N_EMBD]),
    ("mlp/c_fc/w", [1, N_EMBD, 4 * N_EMBD]),
    ("mlp/c_fc/b", [4 * N_EMBD]),
    ("mlp/c_proj/w", [1, 4 * N_EMBD, N_EMBD]),
    ("mlp/c_proj/b", [N_EMBD]),
    ("ln_2/g", [N_EMBD]),
    ("ln_2/b", [N_EMBD]),
]


def released_layout():
    """[(name, shape)] of the 146 released arrays, in file order."""
    layout = [("model/positions", [N_POS, N_EMBD]), ("model/tokens", [N_VOCAB, N_EMBD])]
    for layer in range(N_LAYER):
        layout += [("model/h%d/%s" % (layer, name), shape) for name, shape in BLOCK]
    return layout


def blob_id(path):
    with open(path, "rb") as f:
        data = f.read()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def one_line(err):
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


class StandIn:
    """A folder of full-size stand-in release files and the stream they hold."""

    def __init__(self, folder, flat, layout):
        self.dir = str(folder)
        self.flat = flat
        self.layout = layout
        self.shapes = [shape for _, shape in layout]
        self.start = {}
        offset = 0
        for name, shape in layout:
            self.start[name] = offset
            offset += int(np.prod(shape))
        self.total = offset

    def expected(self, name):
        """The slice of the flat stream the released layout maps to `name`."""
        shape = dict(self.layout)[name]
        start = self.start[name]
        return self.flat[start:start + int(np.prod(shape))].reshape(shape)


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    folder = tmp_path_factory.mktemp("params")
    layout = released_layout()
    with open(folder / "params_shapes.json", "w") as f:
        json.dump([shape for _, shape in layout], f)
    flat = np.random.default_rng(0).standard_normal(N_FLOATS, dtype=np.float32)
    for name, chunk in zip(SHARDS, np.array_split(flat, len(SHARDS))):
        np.save(folder / name, chunk)
    return StandIn(folder, flat, layout)


def write_shapes(folder, shapes):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "params_shapes.json", "w") as f:
        json.dump(shapes, f)
    return str(folder)


def tiny_shards(folder, shapes, dtype=np.float32, total=None):
    """A small params folder: `shapes` and a stream of their total size in 10 shards."""
    write_shapes(folder, shapes)
    n = sum(int(np.prod(s)) for s in shapes) if total is None else total
    flat = np.arange(n, dtype=dtype)
    for name, chunk in zip(SHARDS, np.array_split(flat, len(SHARDS))):
        np.save(folder / name, chunk)
    return str(folder), flat


# -- the stand-in itself ------------------------------------------------------

def test_standin_matches_the_release_format(standin):
    assert len(standin.layout) == 146 == release.N_PARAMS_ARRAYS
    assert standin.total == N_FLOATS == release.N_FLOATS
    files = sorted(n for n in os.listdir(standin.dir) if n.endswith(".npy"))
    assert files == sorted(SHARDS) == sorted(release.SHARD_FILES)
    sizes = [np.load(os.path.join(standin.dir, n), mmap_mode="r").size for n in SHARDS]
    assert sum(sizes) == N_FLOATS
    assert [n for n, _ in standin.layout] == weights.released_names()


def test_generated_shapes_equal_the_real_file(gpt1_dir):
    path = os.path.join(gpt1_dir, "params_shapes.json")
    with open(path) as f:
        real = json.load(f)
    assert real == [shape for _, shape in released_layout()]
    assert blob_id(path) == release.BLOB_IDS["params_shapes.json"]


def test_param_shapes_order_and_count():
    shapes = param_shapes(HParams())
    assert len(shapes) == 147
    names = list(shapes)
    assert names[0] == "model/we" and shapes["model/we"] == [N_VOCAB + 3 + 512, N_EMBD]
    assert [(n, shapes[n]) for n in names[1:145]] == released_layout()[2:]
    assert names[145:] == ["model/clf/w", "model/clf/b"]
    assert shapes["model/clf/w"] == [N_EMBD, 1] and shapes["model/clf/b"] == [1]


# -- load_shards ----------------------------------------------------------------

def test_load_shards(standin):
    arrays = weights.load_shards(standin.dir, standin.shapes, blob_ids=None)
    assert len(arrays) == 146
    for (name, shape), a in zip(standin.layout, arrays):
        assert a.dtype == np.float32
        assert list(a.shape) == shape, name
        np.testing.assert_array_equal(a, standin.expected(name), err_msg=name)


# -- transfer_arrays ------------------------------------------------------------

def specials(seed):
    np.random.seed(seed)
    rows = (np.random.randn(3, N_EMBD) * 0.02).astype(np.float32)
    return rows, np.random.get_state()


def assert_same_state(a, b):
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2:] == b[2:]


def check_transfer(standin, n_transfer, seed):
    hp = HParams(n_ctx=77)
    rows, state = specials(seed)
    np.random.seed(seed)
    arrays = loader.transfer_arrays(standin.dir, hp, n_transfer, blob_ids=None)
    # Exactly one draw of randn(3, n_embd) from the global generator.
    assert_same_state(np.random.get_state(), state)
    assert len(arrays) == 1 + 12 * n_transfer
    we = arrays[0]
    assert we.dtype == np.float32
    shapes = variables.param_shapes(hp)  # the transformer's: what the release transfers
    assert list(we.shape) == [N_VOCAB + 3 + 77, N_EMBD] == shapes["model/we"]
    np.testing.assert_array_equal(we[:N_VOCAB], standin.expected("model/tokens"))
    np.testing.assert_array_equal(we[N_VOCAB:N_VOCAB + 3], rows)
    np.testing.assert_array_equal(we[N_VOCAB + 3:], standin.expected("model/positions")[:77])
    var_shapes = list(shapes.items())
    for i, a in enumerate(arrays[1:], start=1):
        name, shape = var_shapes[i]
        layer, j = divmod(i - 1, 12)
        assert name == "model/h%d/%s" % (layer, BLOCK[j][0])
        assert list(a.shape) == shape == BLOCK[j][1], name
        np.testing.assert_array_equal(a, standin.expected(name), err_msg=name)


def test_transfer_all_layers(standin):
    check_transfer(standin, 12, seed=42)


def test_transfer_three_layers(standin):
    check_transfer(standin, 3, seed=7)


def test_transfer_none_draws_specials_anyway(tmp_path):
    _, state = specials(42)
    np.random.seed(42)
    # No files needed at all.
    assert loader.transfer_arrays(str(tmp_path / "nowhere"), HParams(n_ctx=77), -1) == []
    assert_same_state(np.random.get_state(), state)
    # Also for another width: the draw is randn(3, n_embd).
    np.random.seed(1)
    np.random.randn(3, 32)
    state = np.random.get_state()
    np.random.seed(1)
    assert loader.transfer_arrays(str(tmp_path), HParams(n_embd=32, n_head=4), -1) == []
    assert_same_state(np.random.get_state(), state)


# -- blob ids -------------------------------------------------------------------

def test_blob_ids_checked(standin):
    ids = {name: blob_id(os.path.join(standin.dir, name)) for name in SHARDS}
    arrays = weights.load_shards(standin.dir, standin.shapes, blob_ids=ids)
    assert len(arrays) == 146
    np.testing.assert_array_equal(arrays[-1], standin.expected("model/h11/ln_2/b"))

    bad = dict(ids, **{"params_4.npy": "0" * 40})
    with pytest.raises(UserError) as err:
        weights.load_shards(standin.dir, standin.shapes, blob_ids=bad)
    msg = one_line(err)
    assert os.path.join(standin.dir, "params_4.npy") in msg
    assert ids["params_4.npy"] in msg and "0" * 40 in msg
    assert DOWNLOAD in msg


@pytest.mark.slow
def test_git_blob_id_equals_git_hash_object(tmp_path):
    import shutil
    import subprocess
    git = shutil.which("git")
    if git is None:
        pytest.skip("no git")
    path = tmp_path / "x.npy"
    np.save(path, np.arange(1000, dtype=np.float32))
    out = subprocess.run([git, "hash-object", str(path)], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert release.git_blob_id(str(path)) == blob_id(str(path)) == out


# -- bad shards -----------------------------------------------------------------

SMALL = [[4, 3], [5, 3], [2, 1, 2]]  # 31 floats


def test_small_shards_load(tmp_path):
    folder, flat = tiny_shards(tmp_path / "p", SMALL)
    arrays = weights.load_shards(folder, SMALL, blob_ids=None)
    np.testing.assert_array_equal(arrays[0], flat[:12].reshape(4, 3))
    np.testing.assert_array_equal(arrays[1], flat[12:27].reshape(5, 3))
    np.testing.assert_array_equal(arrays[2], flat[27:].reshape(2, 1, 2))


def test_missing_shards(tmp_path):
    folder, _ = tiny_shards(tmp_path / "p", SMALL)
    os.remove(os.path.join(folder, "params_3.npy"))
    os.remove(os.path.join(folder, "params_7.npy"))
    with pytest.raises(UserError) as err:
        weights.load_shards(folder, SMALL, blob_ids=None)
    msg = one_line(err)
    assert "params_3.npy" in msg and "params_7.npy" in msg
    assert "params_2.npy" not in msg
    assert "%s --dest %s" % (DOWNLOAD, folder) in msg


@pytest.mark.parametrize("keep", [0, 3, 60, -1])
def test_truncated_shard(tmp_path, keep):
    folder, _ = tiny_shards(tmp_path / "p", SMALL)
    path = os.path.join(folder, "params_5.npy")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:keep] if keep >= 0 else data[:-1])
    with pytest.raises(UserError) as err:
        weights.load_shards(folder, SMALL, blob_ids=None)
    msg = one_line(err)
    assert path in msg and ".npy" in msg
    assert "%s --dest %s" % (DOWNLOAD, folder) in msg


def test_shard_of_wrong_dtype(tmp_path):
    folder, _ = tiny_shards(tmp_path / "p", SMALL, dtype=np.float64)
    with pytest.raises(UserError) as err:
        weights.load_shards(folder, SMALL, blob_ids=None)
    msg = one_line(err)
    assert os.path.join(folder, "params_0.npy") in msg
    assert "float64" in msg and "float32" in msg


def test_shard_not_flat(tmp_path):
    folder, _ = tiny_shards(tmp_path / "p", SMALL)
    np.save(os.path.join(folder, "params_2.npy"), np.zeros((3, 1), np.float32))
    with pytest.raises(UserError) as err:
        weights.load_shards(folder, SMALL, blob_ids=None)
    msg = one_line(err)
    assert os.path.join(folder, "params_2.npy") in msg and "1-D" in msg


@pytest.mark.parametrize("total", [30, 32])
def test_shards_total_differs_from_shapes(tmp_path, total):
    folder, _ = tiny_shards(tmp_path / "p", SMALL, total=total)
    with pytest.raises(UserError) as err:
        weights.load_shards(folder, SMALL, blob_ids=None)
    msg = one_line(err)
    assert folder in msg and "params_shapes.json" in msg
    assert str(total) in msg and "31" in msg


def test_transfer_without_shards(tmp_path):
    folder = write_shapes(tmp_path / "p", [s for _, s in released_layout()])
    with pytest.raises(UserError) as err:
        loader.transfer_arrays(folder, HParams(n_ctx=77), 12, blob_ids=None)
    msg = one_line(err)
    assert all(name in msg for name in SHARDS)
    assert "%s --dest %s" % (DOWNLOAD, folder) in msg


# -- bad params_shapes.json ------------------------------------------------------

def test_shapes_file_missing(tmp_path):
    folder = str(tmp_path)
    with pytest.raises(UserError) as err:
        loader.transfer_arrays(folder, HParams(n_ctx=77), 12, blob_ids=None)
    msg = one_line(err)
    assert os.path.join(folder, "params_shapes.json") in msg
    assert "%s --dest %s" % (DOWNLOAD, folder) in msg


@pytest.mark.parametrize("text", ["[[512, 768], [40478", "", "\xff\xfe"])
def test_shapes_file_not_json(tmp_path, text):
    (tmp_path / "params_shapes.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(UserError) as err:
        weights.read_shapes(str(tmp_path))
    msg = one_line(err)
    assert os.path.join(str(tmp_path), "params_shapes.json") in msg
    assert "JSON" in msg and "shapes" in msg


@pytest.mark.parametrize("shapes", [{"a": 1}, [[512, 768], [40478, -768]], [[512, 768.0]],
                                    [512, 768], "shapes"])
def test_shapes_file_not_a_list_of_shapes(tmp_path, shapes):
    folder = write_shapes(tmp_path, shapes)
    with pytest.raises(UserError) as err:
        loader.transfer_arrays(folder, HParams(n_ctx=77), 12, blob_ids=None)
    msg = one_line(err)
    assert os.path.join(folder, "params_shapes.json") in msg and "list of shapes" in msg


@pytest.mark.parametrize("hp, index, expected", [
    (HParams(n_ctx=77, n_embd=512, n_head=8), 0, [512, 512]),
    (HParams(n_ctx=77, n_vocab=40000), 1, [40000, 768]),
])
def test_shapes_do_not_fit_the_flags(tmp_path, hp, index, expected):
    layout = released_layout()
    folder = write_shapes(tmp_path, [s for _, s in layout])
    with pytest.raises(UserError) as err:
        loader.transfer_arrays(folder, hp, 12, blob_ids=None)
    msg = one_line(err)
    assert os.path.join(folder, "params_shapes.json") in msg
    assert layout[index][0] in msg
    assert str(layout[index][1]) in msg and str(expected) in msg


def test_layer_shape_does_not_fit(tmp_path):
    shapes = [s for _, s in released_layout()]
    shapes[2 + 12 * 5 + 6] = [1, 768, 3000]  # model/h5/mlp/c_fc/w
    folder = write_shapes(tmp_path, shapes)
    with pytest.raises(UserError) as err:
        loader.transfer_arrays(folder, HParams(n_ctx=77), 12, blob_ids=None)
    msg = one_line(err)
    assert "model/h5/mlp/c_fc/w" in msg and "[1, 768, 3072]" in msg and "[1, 768, 3000]" in msg
    # With only 3 layers transferred the 6th layer's shape does not matter.
    standin_free = weights.read_shapes(folder)
    weights.check_shapes(standin_free, HParams(n_ctx=77), 3)


def test_too_few_shapes(tmp_path):
    folder = write_shapes(tmp_path, [s for _, s in released_layout()][:38])
    with pytest.raises(UserError) as err:
        loader.transfer_arrays(folder, HParams(n_ctx=77), 12, blob_ids=None)
    msg = one_line(err)
    assert "params_shapes.json" in msg and "38" in msg and "146" in msg


def test_n_ctx_more_than_released_positions(tmp_path):
    folder = write_shapes(tmp_path, [s for _, s in released_layout()])
    with pytest.raises(UserError) as err:
        loader.transfer_arrays(folder, HParams(n_ctx=513), 12, blob_ids=None)
    msg = one_line(err)
    assert "--n_ctx" in msg and "513" in msg and "512" in msg


def test_n_ctx_more_than_positions_in_shapes_file(tmp_path):
    shapes = [s for _, s in released_layout()]
    shapes[0] = [100, 768]
    folder = write_shapes(tmp_path, shapes)
    with pytest.raises(UserError) as err:
        loader.transfer_arrays(folder, HParams(n_ctx=120), 12, blob_ids=None)
    msg = one_line(err)
    assert "--n_ctx" in msg and "120" in msg and "100" in msg and "params_shapes.json" in msg


def test_n_transfer_more_than_n_layer(tmp_path):
    folder = write_shapes(tmp_path, [s for _, s in released_layout()])
    with pytest.raises(UserError) as err:
        loader.transfer_arrays(folder, HParams(n_ctx=77, n_layer=2), 12, blob_ids=None)
    msg = one_line(err)
    assert "--n_transfer 12" in msg and "--n_layer 2" in msg


# -- save_params / load_params ---------------------------------------------------

TINY = HParams(n_vocab=10, n_ctx=4, n_embd=8, n_head=2, n_layer=2)


def original_layout(n_vocab, n_special, n_ctx, nx, n_layer):
    """[(name, shape)] of the original's trainable variables (its best_params.jl)."""
    layout = [("model/we", [n_vocab + n_special + n_ctx, nx])]
    block = [[1, nx, 3 * nx], [3 * nx], [1, nx, nx], [nx], [nx], [nx],
             [1, nx, 4 * nx], [4 * nx], [1, 4 * nx, nx], [nx], [nx], [nx]]
    for layer in range(n_layer):
        layout += [("model/h%d/%s" % (layer, name), shape)
                   for (name, _), shape in zip(BLOCK, block)]
    return layout + [("model/clf/w", [nx, 1]), ("model/clf/b", [1])]


def test_original_layout_is_param_shapes():
    assert list(param_shapes(HParams()).items()) == original_layout(40478, 3, 512, 768, 12)
    assert len(original_layout(40478, 3, 512, 768, 12)) == 147
    assert list(param_shapes(TINY).items()) == original_layout(10, 3, 4, 8, 2)


def random_arrays(layout, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape, dtype=np.float32) for _, shape in layout]


def test_save_load_round_trip(tmp_path):
    shapes = param_shapes(TINY)
    arrays = random_arrays(shapes.items())
    path = str(tmp_path / "best_params.jl")
    weights.save_params(path, arrays)
    raw = joblib.load(path)
    assert isinstance(raw, list) and len(raw) == len(shapes)
    loaded = loader.load_params(path, shapes)
    assert len(loaded) == len(arrays) == 27
    for a, b in zip(arrays, loaded):
        assert b.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_load_original_best_params(tmp_path):
    layout = original_layout(10, 3, 4, 8, 2)
    arrays = random_arrays(layout, seed=1)
    path = str(tmp_path / "best_params.jl")
    joblib.dump(arrays, path)  # what the original's save() wrote
    loaded = loader.load_params(path, param_shapes(TINY))
    for a, b in zip(arrays, loaded):
        np.testing.assert_array_equal(a, b)


def test_load_params_wrong_count(tmp_path):
    shapes = param_shapes(TINY)
    path = str(tmp_path / "best_params.jl")
    joblib.dump(random_arrays(shapes.items())[:-1], path)
    with pytest.raises(UserError) as err:
        loader.load_params(path, shapes)
    msg = one_line(err)
    assert path in msg and "26" in msg and "27" in msg


def test_load_params_not_a_list(tmp_path):
    shapes = param_shapes(TINY)
    path = str(tmp_path / "best_params.jl")
    joblib.dump({"model/we": np.zeros(3)}, path)
    with pytest.raises(UserError) as err:
        loader.load_params(path, shapes)
    msg = one_line(err)
    assert path in msg and "dict" in msg and "27" in msg


def test_load_params_wrong_shape(tmp_path):
    shapes = param_shapes(TINY)
    arrays = random_arrays(shapes.items())
    arrays[3] = np.zeros([8, 8], np.float32)  # model/h0/attn/c_proj/w should be [1, 8, 8]
    path = str(tmp_path / "best_params.jl")
    joblib.dump(arrays, path)
    with pytest.raises(UserError) as err:
        loader.load_params(path, shapes)
    msg = one_line(err)
    assert path in msg and "model/h0/attn/c_proj/w" in msg
    assert "[8, 8]" in msg and "[1, 8, 8]" in msg


def test_load_params_missing(tmp_path):
    path = str(tmp_path / "nope" / "best_params.jl")
    with pytest.raises(UserError) as err:
        loader.load_params(path, param_shapes(TINY))
    assert path in one_line(err)


# -- manifests and verify_params_dir ----------------------------------------------

def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_manifest(folder, names):
    files = {n: {"bytes": os.path.getsize(os.path.join(folder, n)),
                 "sha256": sha256(os.path.join(folder, n))} for n in names}
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump({"files": files}, f)


def manifest_folder(tmp_path, standin):
    """Weights that are not the release, with their own manifest: links to the stand-in
    files (the same bytes) in a folder carrying manifest.json."""
    folder = tmp_path / "own"
    folder.mkdir()
    for name in ["params_shapes.json"] + SHARDS:
        os.symlink(os.path.join(standin.dir, name), folder / name)
    write_manifest(str(folder), ["params_shapes.json"] + SHARDS)
    return str(folder)


def test_release_ids_refuse_stand_ins_and_say_how_to_load_them(standin):
    with pytest.raises(UserError) as err:
        weights.verify_params_dir(standin.dir, 12)
    msg = one_line(err)
    # params_shapes.json is the release's, byte for byte; the first shard is not.
    assert os.path.join(standin.dir, "params_0.npy") in msg and "blob id" in msg
    assert "manifest.json" in msg and "--unverified_weights" in msg and DOWNLOAD in msg


def test_unverified_weights_warn_once(standin, capsys):
    import io
    out = io.StringIO()
    assert weights.verify_params_dir(standin.dir, 12, unverified=True, out=out) == "unverified"
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and standin.dir in lines[0]
    assert "--unverified_weights" in lines[0]
    # Accepted: the default (release) check of load_shards does not refuse them now.
    arrays = weights.load_shards(standin.dir, standin.shapes)
    np.testing.assert_array_equal(arrays[5], standin.expected(standin.layout[5][0]))
    assert weights.verify_params_dir(standin.dir, -1) is None  # nothing loaded, nothing checked


def test_manifest_verifies_instead_of_the_release_ids(standin, tmp_path):
    folder = manifest_folder(tmp_path, standin)
    assert set(weights.read_manifest(folder)) == set(["params_shapes.json"] + SHARDS)
    assert weights.read_manifest(standin.dir) is None
    assert weights.verify_params_dir(folder, 12) == "manifest"
    weights._ACCEPTED.clear()  # load_shards checks the manifest itself too
    arrays = weights.load_shards(folder, standin.shapes)
    np.testing.assert_array_equal(arrays[-1], standin.expected("model/h11/ln_2/b"))


@pytest.mark.parametrize("change, words", [
    (lambda e: e["params_4.npy"].update(bytes=e["params_4.npy"]["bytes"] - 4),
     ["params_4.npy", "bytes", "manifest.json"]),
    (lambda e: e["params_7.npy"].update(sha256="0" * 64), ["params_7.npy", "sha256", "0" * 64]),
    (lambda e: e.pop("params_2.npy"), ["does not list params_2.npy"]),
])
def test_manifest_mismatch_is_refused(standin, tmp_path, change, words):
    folder = manifest_folder(tmp_path, standin)
    path = os.path.join(folder, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    change(manifest["files"])
    with open(path, "w") as f:
        json.dump(manifest, f)
    for call in (lambda: weights.verify_params_dir(folder, 12),
                 lambda: weights.load_shards(folder, standin.shapes)):
        weights._ACCEPTED.clear()
        with pytest.raises(UserError) as err:
            call()
        msg = one_line(err)
        assert all(w in msg for w in words), msg


@pytest.mark.parametrize("text", ['{"files": [1]}', "[]", "{", '{"files": {"a/b": {}}}',
                                  '{"files": {"params_0.npy": {"bytes": 1, "sha256": "xyz"}}}'])
def test_malformed_manifest(tmp_path, text):
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(UserError) as err:
        weights.read_manifest(str(tmp_path))
    msg = one_line(err)
    assert os.path.join(str(tmp_path), "manifest.json") in msg and "sha256" in msg


def test_verify_missing_weights(tmp_path):
    folder = write_shapes(tmp_path / "p", [[1]])
    with pytest.raises(UserError) as err:
        weights.verify_params_dir(folder, 3)
    msg = one_line(err)
    assert all(n in msg for n in SHARDS) and "params_shapes.json" not in msg
    assert "%s --dest %s" % (DOWNLOAD, folder) in msg


# -- end to end: train.py with full-size stand-ins -----------------------------------

def stand_in_vocabulary(folder):
    """An encoder of the release's 40478 entries (every text piece misses it: id 0) and
    an empty merges list: the shapes of the release, no text model."""
    os.makedirs(folder, exist_ok=True)
    enc = os.path.join(folder, "encoder_bpe_40000.json")
    with open(enc, "w") as f:
        json.dump({"<%d>" % i: i for i in range(N_VOCAB)}, f)
    bpe = os.path.join(folder, "vocab_40000.bpe")
    with open(bpe, "w") as f:
        f.write("#version: 0.2\n")
    return enc, bpe


def rocstories_slice(folder, n_val=380, n_test=4):
    os.makedirs(folder, exist_ok=True)
    row = lambda i, label: ["id%d" % i, "Sent one %d." % i, "Sent two.", "Sent three.",
                            "Sent four.", "The end.", "An end.", label]
    write_csv(os.path.join(folder, VAL), [row(i, "12"[i % 2]) for i in range(n_val)])
    write_csv(os.path.join(folder, TEST), [row(i, "21"[i % 2]) for i in range(n_test)])
    return str(folder)


def tiny_run_with_weights(tmp_path, params_dir, *more):
    """train.py on a ROCStories slice (6 training stories) with a 1-layer, full-width model
    loading layer 0 of `params_dir`: 3 updates."""
    enc, bpe = stand_in_vocabulary(str(tmp_path / "vocab"))
    data = rocstories_slice(str(tmp_path / "data"))
    args = ["--dataset", "rocstories", "--desc", "w", "--params_dir", params_dir,
            "--encoder_path", enc, "--bpe_path", bpe, "--data_dir", data,
            "--n_layer", "1", "--n_transfer", "1", "--n_iter", "1", "--n_batch", "2",
            "--n_gpu", "1", "--no_xla", "--log_dir", str(tmp_path / "log"),
            "--save_dir", str(tmp_path / "save")] + list(more)  # (no XLA: a shorter start)
    return run_train(args, cwd=str(tmp_path), timeout=300)


def logged_updates(tmp_path):
    with open(tmp_path / "log" / "w.jsonl") as f:
        lines = [json.loads(line) for line in f]
    return lines[-1]["n_updates"]


@pytest.mark.slow
def test_train_refuses_stand_ins_before_encoding(standin, tmp_path):
    proc = tiny_run_with_weights(tmp_path, standin.dir)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    errors = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
    assert len(errors) == 1 and "blob id" in errors[0] and "--unverified_weights" in errors[0]
    assert proc.stdout == ""  # nothing encoded, nothing described
    assert not os.path.exists(tmp_path / "log" / "w.jsonl")


@pytest.mark.slow
def test_train_with_unverified_weights(standin, tmp_path):
    proc = tiny_run_with_weights(tmp_path, standin.dir, "--unverified_weights")
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [l for l in proc.stderr.splitlines() if l.startswith("warning: ")]
    assert len(warnings) == 1 and standin.dir in warnings[0], proc.stderr
    assert logged_updates(tmp_path) == 3


@pytest.mark.slow
def test_train_with_a_manifest(standin, tmp_path):
    folder = manifest_folder(tmp_path, standin)
    proc = tiny_run_with_weights(tmp_path, folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "warning: " not in proc.stderr
    assert logged_updates(tmp_path) == 3
    # The manifest is what train.py checks: one that does not match is refused.
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    manifest["files"]["params_0.npy"]["sha256"] = "f" * 64
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    proc = tiny_run_with_weights(tmp_path, folder, "--desc", "w2")
    assert proc.returncode == 2 and "f" * 64 in proc.stderr and "Traceback" not in proc.stderr
