"""finetune_lm.tasks.rocstories (ROCStories loading and input layout), training.loop.shuffled
(the epoch order) and train.prepare, against docs/fidelity.md ("ROCStories", "Randomness")."""

import csv
import os

import numpy as np
import pytest
import sklearn.utils
from sklearn.model_selection import train_test_split

from helpers import HEADER, TEST, VAL, data_dir, roc_dense, roc_n_ctx, write_csv
from finetune_lm import train
from finetune_lm.tasks import get_task
from finetune_lm.tasks import rocstories as datasets
from finetune_lm.training import loop
from finetune_lm.util.errors import UserError


def raw_rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == HEADER
    return rows[1:]


def one_line(err):
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


# -- the real ROCStories files ----------------------------------------------------

def test_rocstories_sizes_and_types(rocstories_dir):
    tr, va, te = datasets.rocstories(rocstories_dir)
    for split, n in ((tr, 1497), (va, 374), (te, 1871)):
        assert len(split) == 4
        assert all(len(column) == n for column in split)
        assert split[3].dtype == np.int32
        assert set(np.unique(split[3])) <= {0, 1}
    # Pinned so that a change of split or labelling is caught.
    assert [s.split()[0] for s in tr[0][:3]] == ["I", "James", "Jenny"]
    assert [s.split()[0] for s in va[0][:3]] == ["Jackson", "My", "Portia"]
    assert tr[0][0] == ("I decided to rent a movie when friends came over last night. After "
                        "looking through selections we decided on horror. We picked a great "
                        "movie and sat down with popcorn. It was really scarey!")
    assert np.bincount(tr[3]).tolist() == [762, 735]
    assert np.bincount(va[3]).tolist() == [200, 174]
    assert np.bincount(te[3]).tolist() == [960, 911]


def test_rocstories_first_val_row(rocstories_dir):
    row = raw_rows(os.path.join(rocstories_dir, VAL))[0]
    assert row[1] == "Rick grew up in a troubled household."
    story = " ".join(row[1:5])
    tr, va, _ = datasets.rocstories(rocstories_dir)
    assert story not in va[0]
    i = tr[0].index(story)
    assert i == 1074
    assert (tr[1][i], tr[2][i]) == (row[5], row[6]) == ("He is happy now.", "He joined a gang.")
    assert tr[3][i] == int(row[7]) - 1 == 0


def test_rocstories_split_is_sklearns(rocstories_dir):
    rows = raw_rows(os.path.join(rocstories_dir, VAL))
    assert len(rows) == 1871
    st = [" ".join(r[1:5]) for r in rows]
    c1 = [r[5] for r in rows]
    c2 = [r[6] for r in rows]
    y = [int(r[-1]) - 1 for r in rows]
    (trX1, vaX1, trX2, vaX2, trX3, vaX3, trY, vaY) = train_test_split(
        st, c1, c2, y, test_size=374, random_state=3535999445)
    tr, va, te = datasets.rocstories(rocstories_dir)
    assert (tr[0], tr[1], tr[2], tr[3].tolist()) == (trX1, trX2, trX3, trY)
    assert (va[0], va[1], va[2], va[3].tolist()) == (vaX1, vaX2, vaX3, vaY)
    # The test file keeps its order.
    rows = raw_rows(os.path.join(rocstories_dir, TEST))
    assert te[0] == [" ".join(r[1:5]) for r in rows]
    assert te[1] == [r[5] for r in rows] and te[2] == [r[6] for r in rows]
    assert te[3].tolist() == [int(r[-1]) - 1 for r in rows]


def test_rocstories_twice_identical(rocstories_dir):
    a = datasets.rocstories(rocstories_dir)
    np.random.seed(0)  # the split must not depend on the global generator
    b = datasets.rocstories(rocstories_dir)
    for sa, sb in zip(a, b):
        assert sa[:3] == sb[:3]
        np.testing.assert_array_equal(sa[3], sb[3])


# -- bad CSV files -------------------------------------------------------------------

def good_row(i, label="1"):
    return ["id%d" % i, "S one %d." % i, "S two.", "S three.", "S four.", "End a.", "End b.",
            label]


def write_data(folder, n_val=380, n_test=5):
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / VAL, [good_row(i, "12"[i % 2]) for i in range(n_val)])
    write_csv(folder / TEST, [good_row(i, "21"[i % 3 == 0]) for i in range(n_test)])
    return str(folder)


def test_synthetic_files_load(tmp_path):
    folder = write_data(tmp_path)
    tr, va, te = datasets.rocstories(folder)
    assert (len(tr[0]), len(va[0]), len(te[0])) == (6, 374, 5)
    assert te[0][0] == "S one 0. S two. S three. S four."
    assert te[3].tolist() == [0, 1, 1, 0, 1]


def test_wrong_column_count(tmp_path):
    rows = [good_row(i) for i in range(5)]
    rows[2] = rows[2][:7]  # record 3 -> line 4 (header is line 1)
    path = write_csv(tmp_path / VAL, rows)
    with pytest.raises(UserError) as err:
        datasets._rocstories(path)
    msg = one_line(err)
    assert path in msg and "line 4" in msg and "7 columns" in msg and "8" in msg


def test_too_many_columns_through_rocstories(tmp_path):
    folder = write_data(tmp_path)
    rows = [good_row(i) for i in range(5)]
    rows[0] = rows[0] + ["extra"]
    path = write_csv(tmp_path / TEST, rows)
    with pytest.raises(UserError) as err:
        datasets.rocstories(folder)
    msg = one_line(err)
    assert path in msg and "line 2" in msg and "9 columns" in msg


@pytest.mark.parametrize("label", ["3", "0", "", "one"])
def test_bad_label(tmp_path, label):
    rows = [good_row(i) for i in range(6)]
    rows[4][-1] = label  # line 6
    path = write_csv(tmp_path / VAL, rows)
    with pytest.raises(UserError) as err:
        datasets._rocstories(path)
    msg = one_line(err)
    assert path in msg and "line 6" in msg and "1 or 2" in msg and repr(label) in msg


def test_line_number_after_multiline_field(tmp_path):
    rows = [good_row(i) for i in range(4)]
    rows[0][2] = "Two\nlines."  # record 1 covers physical lines 2 and 3
    rows[2][-1] = "3"  # record 3 is physical line 5
    path = write_csv(tmp_path / VAL, rows)
    with pytest.raises(UserError) as err:
        datasets._rocstories(path)
    assert "line 5" in one_line(err)


def test_missing_files(tmp_path):
    with pytest.raises(UserError) as err:
        datasets.rocstories(str(tmp_path))
    msg = one_line(err)
    assert VAL in msg and "--data_dir" in msg
    assert "ROCStories" in msg and "rochester" in msg.lower()
    # The val file present, the test file missing.
    write_csv(tmp_path / VAL, [good_row(i) for i in range(400)])
    with pytest.raises(UserError) as err:
        datasets.rocstories(str(tmp_path))
    msg = one_line(err)
    assert TEST in msg and "ROCStories" in msg


def test_get_task():
    task = get_task("rocstories")
    assert task.load is datasets.load and [s.filename for s in task.submissions] == [
        "ROCStories.tsv"]
    assert (task.n_seq, task.head, task.main_metric.name) == (2, "choice", "acc")
    with pytest.raises(UserError) as err:
        get_task("sst3")
    msg = one_line(err)
    assert "'sst3'" in msg and "--dataset" in msg and "rocstories" in msg


# -- the original's n_ctx and transform_roc (helpers, through the task's transform) --

START, DELIM, CLF = 100, 101, 102


def test_roc_n_ctx():
    # flag 12 -> max_len 4.
    train_ = [([1, 2], [3], [4, 5])]
    valid = [([1, 2, 3, 4, 5, 6], [7, 8], [9])]         # 4 + 2 (story cut to 4)
    test = [([1], [2, 3, 4, 5, 6, 7, 8], [9])]          # 1 + 4 (ending cut to 4)
    assert roc_n_ctx([train_, valid, test], 12) == 4 + 2 + 3
    longest = [([1] * 9, [2] * 9, [3])]                 # 4 + 4
    assert roc_n_ctx([train_, valid, longest], 12) == 11
    # The second ending counts too, and the longest split may be any of them.
    assert roc_n_ctx([[([1], [2], [3, 3, 3])]], 512) == 1 + 3 + 3
    assert roc_n_ctx([[([1], [2], [3])], [], [([1] * 300, [2] * 300, [])]],
                              512) == 254 + 254 + 3
    # Never more than the flag.
    for flag in range(8, 20):
        assert roc_n_ctx([[([1] * 50, [2] * 50, [3] * 50)]], flag) <= flag


def test_transform_roc_layout():
    x1 = [[1, 2, 3, 4, 5, 6], [7]]
    x2 = [[10, 11], [12, 13, 14, 15, 16, 17]]
    x3 = [[20, 21, 22, 23, 24, 25, 26], [27]]
    n_ctx_flag = 12
    max_len = n_ctx_flag // 2 - 2
    assert max_len == 4
    n_ctx = roc_n_ctx([zip(x1, x2, x3)], n_ctx_flag)
    assert n_ctx == 11
    X, M = roc_dense(x1, x2, x3, n_ctx, max_len, START, DELIM, CLF, 1000)
    assert X.shape == (2, 2, 11, 2) and M.shape == (2, 2, 11)
    assert X.dtype == np.int32 and M.dtype == np.float32
    expected = [
        [[START, 1, 2, 3, 4, DELIM, 10, 11, CLF],
         [START, 1, 2, 3, 4, DELIM, 20, 21, 22, 23, CLF]],
        [[START, 7, DELIM, 12, 13, 14, 15, CLF],
         [START, 7, DELIM, 27, CLF]],
    ]
    for i in range(2):
        for j in range(2):
            seq = expected[i][j]
            np.testing.assert_array_equal(X[i, j, :, 0], seq + [0] * (n_ctx - len(seq)))
            np.testing.assert_array_equal(M[i, j], [1.0] * len(seq) + [0.0] * (n_ctx - len(seq)))
            np.testing.assert_array_equal(X[i, j, :, 1], 1000 + np.arange(n_ctx))


def test_transform_roc_longer_context():
    # A context longer than any sequence: zero padding, positions everywhere.
    X, M = roc_dense([[5]], [[6]], [[7, 8]], 20, 9, START, DELIM, CLF, 40481)
    np.testing.assert_array_equal(X[0, 0, :6, 0], [START, 5, DELIM, 6, CLF, 0])
    np.testing.assert_array_equal(X[0, 1, :7, 0], [START, 5, DELIM, 7, 8, CLF, 0])
    assert not X[0, :, 7:, 0].any()
    assert M[0].sum(1).tolist() == [5, 6]
    np.testing.assert_array_equal(X[0, :, :, 1], np.tile(40481 + np.arange(20), (2, 1)))


# -- shuffled (the epoch order) --------------------------------------------------

@pytest.mark.parametrize("seed", [0, 42, 3535999445 % 2 ** 32])
@pytest.mark.parametrize("n", [1, 2, 33, 1497])
def test_epoch_order_is_sklearn_shuffle(seed, n):
    rs = np.random.RandomState(seed)
    expected = sklearn.utils.shuffle(np.arange(n), random_state=rs)
    np.random.seed(seed)
    order = loop.shuffled(n)
    np.testing.assert_array_equal(order, expected)
    a, b = np.random.get_state(), rs.get_state()
    assert a[0] == b[0] and a[2:] == b[2:]
    np.testing.assert_array_equal(a[1], b[1])


def test_epoch_orders_follow_specials():
    """Specials, then one shuffle per epoch, all from the one global generator."""
    n = 1497
    rs = np.random.RandomState(42)
    rs.randn(3, 768)
    expected = [sklearn.utils.shuffle(np.arange(n), random_state=rs) for _ in range(3)]
    np.random.seed(42)
    np.random.randn(3, 768)
    for e in expected:
        np.testing.assert_array_equal(loop.shuffled(n), e)


# -- train.prepare on the real files ---------------------------------------------------

@pytest.fixture(scope="module")
def prepared():
    gpt1, roc = data_dir("gpt1"), data_dir("rocstories")
    args = train.build_parser().parse_args(
        ["--dataset", "rocstories", "--n_transfer", "-1", "--data_dir", roc,
         "--params_dir", gpt1])
    train.check_args(args)
    hp, data = train.prepare(args, verbose=False)
    # The dense inputs of every split, as the original's transform_roc made them.
    pos = hp.n_vocab + hp.n_special
    return hp, {name: enc.batch(np.arange(len(enc)), hp.n_ctx, pos) for name, enc in data.items()}


def test_prepare_real_data(prepared):
    hp, data = prepared
    assert hp.n_ctx == 77  # the longest [start] story [delim] ending [clf] at --n_ctx 512
    assert (hp.n_vocab, hp.n_special, hp.clf_token) == (40478, 3, 40480)
    assert hp.n_updates_total == (1497 // 32) * 3 == 138
    longest = 0
    for name, n in (("train", 1497), ("valid", 374), ("test", 1871)):
        X, M, Y = data[name]
        assert X.shape == (n, 2, 77, 2) and M.shape == (n, 2, 77) and Y.shape == (n,)
        assert Y.dtype == np.int32
        lengths = M.sum(-1).astype(int)
        longest = max(longest, lengths.max())
        # The mask is a prefix of ones.
        np.testing.assert_array_equal(M, (np.arange(77) < lengths[..., None]).astype(np.float32))
        tokens = X[..., 0]
        assert (tokens[:, :, 0] == 40478).all()
        last = np.take_along_axis(tokens, (lengths - 1)[..., None], -1)[..., 0]
        assert (last == 40480).all()
        assert ((tokens == 40480).sum(-1) == 1).all()
        assert ((tokens == 40479).sum(-1) == 1).all()
        assert ((tokens == 40478).sum(-1) == 1).all()
        assert (tokens[M == 0] == 0).all()
        assert (tokens[M == 1] != 0).sum() > 0.99 * M.sum()
        np.testing.assert_array_equal(X[..., 1], np.broadcast_to(40481 + np.arange(77), X[..., 1].shape))
    assert longest == 77


def test_prepare_labels_match_loader(prepared, rocstories_dir):
    _, data = prepared
    tr, va, te = datasets.rocstories(rocstories_dir)
    np.testing.assert_array_equal(data["train"][2], tr[3])
    np.testing.assert_array_equal(data["valid"][2], va[3])
    np.testing.assert_array_equal(data["test"][2], te[3])
    # The first train story starts "I decided": both choices share the story tokens.
    X = data["train"][0]
    n_story = int(np.argmax(X[0, 0, :, 0] == 40479))
    np.testing.assert_array_equal(X[0, 0, :n_story, 0], X[0, 1, :n_story, 0])
