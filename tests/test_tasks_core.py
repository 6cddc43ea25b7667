"""The task seam: heads and losses against NumPy, the four input transformations'
exact ids, the metrics against scikit-learn / SciPy, inputs (batches, the encoding
cache, parallel encoding), the task table and the submission format."""

import ast
import dataclasses
import importlib
import os
import pkgutil

import numpy as np
import pytest
import tensorflow as tf

import finetune_lm
import finetune_lm.tasks
from helpers import ROOT
from finetune_lm import train
from finetune_lm.data import inputs
from finetune_lm.model import heads
from finetune_lm.model.hparams import HParams
from finetune_lm.model.ops import init_value
from finetune_lm.tasks import all_tasks, get_task, metrics, transforms
from finetune_lm.tasks.base import Split, Submission
from finetune_lm.training import analysis, loop, towers
from finetune_lm.training.finetuning import FineTuneJob
from finetune_lm.training.objectives import FineTuning

S, D, E = 100, 101, 102  # _start_, _delimiter_, _classify_
SPECIALS = (S, D, E)
C = 8


def hp_for(head, n_seq, n_out, soft=False, pdrop=0.0):
    return HParams(n_vocab=60, n_ctx=6, n_embd=C, n_head=2, n_layer=1, clf_token=E,
                   head=head, n_seq=n_seq, n_out=n_out, soft_targets=soft, clf_pdrop=pdrop)


def hidden_and_tokens(n_examples, k, seed=0):
    """Random final states [BK, 6, C] and token ids whose first _classify_ varies."""
    rs = np.random.RandomState(seed)
    h = rs.randn(n_examples * k, 6, C).astype(np.float32)
    X = np.zeros((n_examples * k, 6, 2), np.int32)
    X[:, :, 0] = rs.randint(0, 60, (n_examples * k, 6))
    pos = rs.randint(1, 6, n_examples * k)
    X[np.arange(n_examples * k), pos, 0] = E
    X[0, 5, 0] = E if pos[0] < 5 else X[0, 5, 0]  # a second _classify_ after the first
    return h, X, pos


def params(n_out, seed=1):
    rs = np.random.RandomState(seed)
    return {"model/clf/w": tf.constant(rs.randn(C, n_out).astype(np.float32)),
            "model/clf/b": tf.constant(rs.randn(n_out).astype(np.float32))}


def np_log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


@pytest.mark.parametrize("head,k,n_out", [("choice", 2, 1), ("choice", 4, 1), ("linear", 1, 3),
                                          ("pair_sum", 2, 2), ("pair_sum", 2, 6)])
def test_heads_against_numpy(head, k, n_out):
    hp = hp_for(head, k, n_out)
    h, X, pos = hidden_and_tokens(5, k)
    p = params(n_out)
    got = heads.HEADS[head](p, tf.constant(h), tf.constant(X), hp, None).numpy()
    w, b = p["model/clf/w"].numpy().astype(np.float64), p["model/clf/b"].numpy()
    pooled = h[np.arange(len(h)), pos].astype(np.float64).reshape(5, k, C)  # first _classify_
    if head == "choice":
        want = (pooled @ w[:, 0]) + b[0]  # [B, K]: one score per option
    elif head == "linear":
        want = pooled[:, 0] @ w + b
    else:
        want = (pooled[:, 0] + pooled[:, 1]) @ w + b  # the two orders' states summed
    assert got.shape == (5, heads.n_logits(hp))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_pair_sum_is_order_free():
    """Swapping the two sequences of an example changes nothing (A$B + B$A)."""
    hp = hp_for("pair_sum", 2, 2)
    h, X, _ = hidden_and_tokens(3, 2)
    p = params(2)
    swap = np.arange(6).reshape(3, 2)[:, ::-1].reshape(-1)
    a = heads.pair_sum(p, tf.constant(h), tf.constant(X), hp, None).numpy()
    b = heads.pair_sum(p, tf.constant(h[swap]), tf.constant(X[swap]), hp, None).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_clf_dropout_one_mask_per_example_across_its_sequences():
    hp = hp_for("pair_sum", 2, 2, pdrop=0.5)
    h, X, pos = hidden_and_tokens(4, 2)
    rng = tf.constant([1, 2], tf.int64)
    pooled = tf.reshape(heads.pool(tf.constant(h), tf.constant(X), hp), [4, 2, C])
    dropped = heads._pooled(tf.constant(h), tf.constant(X), hp, rng).numpy()
    keep = dropped != 0
    np.testing.assert_array_equal(keep[:, 0], keep[:, 1])  # shared by the two orders
    np.testing.assert_allclose(dropped[keep], 2 * pooled.numpy()[keep], rtol=1e-6)


def test_losses_against_numpy():
    rs = np.random.RandomState(3)
    logits = rs.randn(4, 6).astype(np.float32)
    labels = np.array([0, 5, 2, 3], np.int32)
    hard = heads.loss(tf.constant(logits), tf.constant(labels), hp_for("linear", 1, 6)).numpy()
    np.testing.assert_allclose(hard, -np_log_softmax(logits.astype(np.float64))[
        np.arange(4), labels], rtol=1e-6)
    soft_y = get_task("stsb").target_array(np.array([0.0, 2.4, 5.0, 3.75], np.float32))
    soft = heads.loss(tf.constant(logits), tf.constant(soft_y),
                      hp_for("pair_sum", 2, 6, soft=True)).numpy()
    np.testing.assert_allclose(soft, -(soft_y * np_log_softmax(logits.astype(np.float64))).sum(1),
                               rtol=1e-6)


def test_model_with_linear_head_and_soft_targets():
    """FineTuning.forward with K = 2, a 6-way pair_sum head and soft targets: shapes, and
    the LM losses cover every sequence of the example."""
    hp = HParams(n_vocab=60, n_ctx=6, n_embd=C, n_head=2, n_layer=1, clf_token=62,
                 head="pair_sum", n_seq=2, n_out=6, soft_targets=True, embd_pdrop=0,
                 attn_pdrop=0, resid_pdrop=0, clf_pdrop=0)
    model = FineTuning(hp)
    p = {n: tf.Variable(init_value(n, s, 0) + 0.01) for n, s in model.param_shapes().items()}
    assert list(p["model/clf/w"].shape) == [C, 6]
    X = np.zeros((3, 2, 6, 2), np.int32)
    X[..., 0] = [[60, 5, 61, 7, 62, 0], [60, 7, 61, 5, 62, 0]]
    X[..., 1] = 63 + np.arange(6)
    M = (X[..., 0] != 0).astype(np.float32)
    Y = get_task("stsb").target_array(np.array([1.5, 0, 4], np.float32))
    logits, clf_losses, lm = model.forward(p, tf.constant(X), tf.constant(M), tf.constant(Y))
    assert logits.shape == (3, 6) and clf_losses.shape == (3,) and lm.shape == (6,)
    with pytest.raises(ValueError, match="Y has shape"):
        model.forward(p, tf.constant(X), tf.constant(M), tf.constant([1, 2, 3]))


# -- the four transformations ------------------------------------------------------

def test_classification_transform():
    t = transforms.classification("sentence")
    assert t({"sentence": [1, 2, 3]}, SPECIALS, 512) == [[S, 1, 2, 3, E]]
    assert t({"sentence": list(range(1, 10))}, SPECIALS, 6) == [[S, 1, 2, 3, 4, E]]


def test_entailment_transform_cuts_the_longer_part():
    t = transforms.entailment("premise", "hypothesis")
    ids = {"premise": [1, 2, 3, 4, 5, 6], "hypothesis": [7, 8]}
    assert t(ids, SPECIALS, 512) == [[S, 1, 2, 3, 4, 5, 6, D, 7, 8, E]]
    assert t(ids, SPECIALS, 8) == [[S, 1, 2, 3, D, 7, 8, E]]
    ids = {"premise": [1, 2, 3], "hypothesis": [7, 8, 9, 10]}
    # The hypothesis is cut first (longer), then at a tie the premise.
    assert t(ids, SPECIALS, 8) == [[S, 1, 2, D, 7, 8, 9, E]]


def test_similarity_transform_both_orders():
    t = transforms.similarity("a", "b")
    assert t({"a": [1, 2], "b": [3]}, SPECIALS, 512) == [[S, 1, 2, D, 3, E], [S, 3, D, 1, 2, E]]


def test_multiple_choice_transform_cuts_the_context_only():
    t = transforms.multiple_choice("article", "question", ["o0", "o1"])
    ids = {"article": [1, 2, 3, 4, 5], "question": [6, 7], "o0": [8], "o1": [9, 10]}
    assert t(ids, SPECIALS, 512) == [[S, 1, 2, 3, 4, 5, 6, 7, D, 8, E],
                                     [S, 1, 2, 3, 4, 5, 6, 7, D, 9, 10, E]]
    # 10 positions: 3 specials + question 2 + longest option 2 leave 3 article tokens.
    assert t(ids, SPECIALS, 10) == [[S, 1, 2, 3, 6, 7, D, 8, E], [S, 1, 2, 3, 6, 7, D, 9, 10, E]]
    for n_ctx in range(7, 14):
        assert all(len(s) <= n_ctx for s in t(ids, SPECIALS, n_ctx))


def test_rocstories_transform_is_the_originals():
    t = get_task("rocstories").transform
    ids = {"story": list(range(1, 10)), "ending1": [20, 21, 22, 23, 24, 25], "ending2": [30]}
    # --n_ctx 12 -> max_len 4 for the story and for each ending.
    assert t(ids, SPECIALS, 12) == [[S, 1, 2, 3, 4, D, 20, 21, 22, 23, E], [S, 1, 2, 3, 4, D, 30, E]]


# -- metrics against scikit-learn / SciPy ------------------------------------------

def test_metrics_against_sklearn_and_scipy():
    from scipy import stats
    from sklearn import metrics as skm
    rs = np.random.RandomState(0)
    y, p = rs.randint(0, 2, 200), rs.randint(0, 2, 200)
    p[:120] = y[:120]
    assert metrics.ACCURACY.fn(p, y) == pytest.approx(100 * skm.accuracy_score(y, p))
    assert metrics.F1.fn(p, y) == pytest.approx(100 * skm.f1_score(y, p))
    assert metrics.MATTHEWS.fn(p, y) == pytest.approx(100 * skm.matthews_corrcoef(y, p))
    s, q = rs.rand(300) * 5, rs.rand(300) * 5
    q[:200] = s[:200] + 0.1 * rs.randn(200)
    s[:50] = np.round(s[:50])  # ties for Spearman's average ranks
    q[50:80] = 2.0
    assert metrics.PEARSON.fn(q, s) == pytest.approx(100 * stats.pearsonr(q, s)[0])
    assert metrics.SPEARMAN.fn(q, s) == pytest.approx(100 * stats.spearmanr(q, s)[0])
    # Degenerate predictions give 0, not NaN.
    assert metrics.MATTHEWS.fn(np.zeros(10), y[:10]) == 0.0
    assert metrics.F1.fn(np.zeros(10), y[:10]) == 0.0
    assert metrics.PEARSON.fn(np.ones(10), s[:10]) == 0.0


# -- the task table -----------------------------------------------------------------

EXPECTED = {  # name: (K, head, n_out, main metric, submission files)
    "cola": (1, "linear", 2, "mcc", ["CoLA.tsv"]),
    "sst2": (1, "linear", 2, "acc", ["SST-2.tsv"]),
    "mrpc": (2, "pair_sum", 2, "f1", ["MRPC.tsv"]),
    "stsb": (2, "pair_sum", 6, "pearson", ["STS-B.tsv"]),
    "qqp": (2, "pair_sum", 2, "f1", ["QQP.tsv"]),
    "mnli": (1, "linear", 3, "acc", ["MNLI-m.tsv", "MNLI-mm.tsv", "AX.tsv"]),
    "qnli": (1, "linear", 2, "acc", ["QNLI.tsv"]),
    "rte": (1, "linear", 2, "acc", ["RTE.tsv"]),
    "snli": (1, "linear", 3, "acc", []),
    "scitail": (1, "linear", 2, "acc", []),
    "race": (4, "choice", 1, "acc", []),
    "rocstories": (2, "choice", 1, "acc", ["ROCStories.tsv"]),
}


def test_every_task_of_the_paper_is_declared():
    tasks = all_tasks()
    assert sorted(tasks) == sorted(EXPECTED)
    for name, (k, head, n_out, main, files) in EXPECTED.items():
        t = tasks[name]
        assert (t.n_seq, t.head, t.n_out, t.main_metric.name) == (k, head, n_out, main), name
        assert [s.filename for s in t.submissions] == files, name
        assert t.paper, name
        assert head in heads.HEADS


# -- the loop names no task -------------------------------------------------------------
#
# Two checks: no module outside finetune_lm/tasks/ imports a task's file or writes a
# task's name or one of its own split names (the source, read with ast); and a task
# planted under a name the package has never seen goes through the generic path.

PACKAGE = os.path.join(ROOT, "finetune_lm")
GENERIC_SPLITS = {"train", "valid", "test"}
# The downloader of the tasks' official files keeps its own table of where each task's
# files come from and how they are laid out (`python -m finetune_lm.download --task`).
MAY_NAME_TASKS = {os.path.join("data", "task_download.py")}


def task_modules():
    """The modules of finetune_lm/tasks/ that declare tasks (define TASKS)."""
    return {info.name for info in pkgutil.iter_modules(finetune_lm.tasks.__path__)
            if hasattr(importlib.import_module("finetune_lm.tasks." + info.name), "TASKS")}


def modules_outside_tasks():
    """Paths, relative to finetune_lm/, of every module outside finetune_lm/tasks/."""
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d not in ("tasks", "__pycache__"))
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.relpath(os.path.join(folder, f), PACKAGE)


def imported_names(node, rel):
    """The dotted names an import statement in module `rel` imports: the module and, for
    `from X import a`, X.a (which may be a submodule)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:  # relative: resolved against the module's package
        package = ["finetune_lm"] + os.path.dirname(rel).split(os.sep)
        package = [p for p in package if p][:len(package) - node.level + 1]
        base = ".".join(package + ([base] if base else []))
    return [base] + ["%s.%s" % (base, a.name) for a in node.names]


def task_references(rel, names, splits, modules):
    """What module `rel` says about particular tasks: imports of a task's file, string
    constants equal to a task's name or to a split only some tasks have."""
    with open(os.path.join(PACKAGE, rel), encoding="utf-8") as f:
        tree = ast.parse(f.read(), rel)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in imported_names(node, rel):
                parts = name.split(".")
                if parts[:2] == ["finetune_lm", "tasks"] and len(parts) > 2 and parts[2] in modules:
                    found.append("line %d imports %s" % (node.lineno, name))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in names:
                found.append("line %d names the task %r" % (node.lineno, node.value))
            elif node.value in splits:
                found.append("line %d names the split %r" % (node.lineno, node.value))
    return found


def test_no_module_outside_tasks_names_a_task():
    """Outside finetune_lm/tasks/, no module imports a task's file, writes a task's
    --dataset name or a split that only some tasks have (MNLI's valid_mm, test_mm, ax):
    the loop, evaluation, analysis, reproduce and bench read declarations."""
    tasks = all_tasks()
    names = set(tasks)
    splits = set()
    for t in tasks.values():
        splits |= {s.split for s in t.submissions} | set(t.analysis) | set(t.split_titles)
    splits -= GENERIC_SPLITS
    assert {"valid_mm", "test_mm", "ax"} <= splits
    modules = task_modules()
    assert {"glue", "rocstories", "race", "snli", "scitail"} <= modules
    checked = list(modules_outside_tasks())
    for rel in ("train.py", "reproduce.py", "bench.py", os.path.join("training", "loop.py"),
                os.path.join("training", "analysis.py"), os.path.join("data", "inputs.py")):
        assert rel in checked
    offenders = {rel: task_references(rel, names, splits, modules)
                 for rel in checked if rel not in MAY_NAME_TASKS}
    assert {rel: found for rel, found in offenders.items() if found} == {}
    # The check sees what it looks for: the downloader's table names tasks.
    for rel in MAY_NAME_TASKS:
        assert task_references(rel, names, splits, modules), rel


def planted_task():
    """ROCStories' declaration under a name no module has seen, with its own splits'
    titles, submission file and a loader of synthetic stories (no files)."""
    words = "the cat sat on a mat and then it ran far away to its home".split()

    def load(data_dir):
        rs = np.random.RandomState(0)
        text = lambda n: " ".join(rs.choice(words, n))

        def split(n):
            return Split(texts={"story": [text(8) for _ in range(n)],
                                "ending1": [text(3) for _ in range(n)],
                                "ending2": [text(3) for _ in range(n)]},
                         labels=rs.randint(0, 2, n).astype(np.int64),
                         index=["p%d" % i for i in range(n)], source=data_dir)
        return {"train": split(8), "valid": split(4), "test": split(5)}

    return dataclasses.replace(
        get_task("rocstories"), name="planted", folder="planted", load=load, title="Planted",
        submissions=(Submission("test", "Planted.tsv"),), analysis=("test",),
        split_titles={"valid": "Dev", "test": "Held-out"}, paper={}, references={})


def test_a_task_planted_under_a_new_name_goes_through_the_generic_path(
        tmp_path, gpt1_dir, monkeypatch, capsys):
    """The task table holds one more task, under a new name: train.py's checks and
    encoding, one fine-tuning update, the evaluation, the submission file and the
    analysis (with the task's own split titles) work from its declaration alone."""
    task = planted_task()
    monkeypatch.setattr(finetune_lm.tasks, "_TABLE", dict(all_tasks(), planted=task))
    assert get_task("planted") is task
    (tmp_path / "data").mkdir()
    args = train.build_parser().parse_args([
        "--dataset", "planted", "--desc", "p", "--data_dir", str(tmp_path / "data"),
        "--params_dir", gpt1_dir, "--n_transfer", "-1", "--n_layer", "1", "--n_embd", "8",
        "--n_head", "2", "--n_ctx", "16", "--n_batch", "2", "--n_gpu", "2", "--n_iter", "1",
        "--no_xla", "--cache_dir", "", "--submit", "--analysis",
        "--log_dir", str(tmp_path / "log"), "--save_dir", str(tmp_path / "save"),
        "--submission_dir", str(tmp_path / "submission")])
    train.check_args(args)
    hp, data = train.prepare(args, verbose=False)
    assert sorted(data) == ["test", "train", "valid"]
    assert (hp.head, hp.n_seq, hp.n_out, hp.n_updates_total) == ("choice", 2, 1, 2)

    model = FineTuning(hp)
    state = towers.TrainState(towers.make_strategy(hp.n_gpu), hp, model.param_shapes())
    X, M, Y = data["train"].batch(np.arange(4), hp.n_ctx, hp.n_vocab + hp.n_special)
    loss, (logits, losses), grad_norm, lr = towers.mgpu_train(state, model)(X, M, Y)
    assert logits.shape == (4, 2) and losses.shape == (4,)
    assert np.isfinite(loss) and grad_norm > 0 and lr == 0  # the warmup starts at 0

    predict = towers.mgpu_predict(state, model)
    paths = train.run_paths(args)
    cost, figures = loop.evaluate(task, predict, data["valid"], hp)
    assert set(figures) == {"acc"} and cost > 0
    loop.ResultLogger(paths["log"], desc="p").log(n_epochs=1, n_updates=1, va_cost=cost,
                                                  va_acc=figures["acc"])
    capsys.readouterr()
    got = analysis.finish(task, hp, data, predict, paths, chief=True, analysis=True)
    out = capsys.readouterr().out
    assert paths["submissions"] == {"test": str(tmp_path / "submission" / "Planted.tsv")}
    with open(paths["submissions"]["test"]) as f:
        assert [line.split("\t")[0] for line in f.read().splitlines()] == [
            "index"] + ["p%d" % i for i in range(5)]
    predictions = np.asarray(analysis.read_submission(paths["submissions"]["test"]))
    test_acc = metrics.ACCURACY.fn(predictions, data["test"].labels)
    assert got == {"valid_accuracy": figures["acc"], "test_accuracy": test_acc}
    assert "Planted Dev Accuracy:" in out and "Planted Held-out Accuracy:" in out, out
    assert os.path.isfile(paths["results"])


# -- inputs ------------------------------------------------------------------------

def encoded_example():
    t = get_task("mnli")
    split = Split(texts={}, labels=np.array([1, 0], np.int64), index=["7", "9"])
    fields = {"premise": (np.array([1, 2, 3, 4]), np.array([0, 3, 4])),
              "hypothesis": (np.array([5, 6]), np.array([0, 1, 2]))}
    return t, inputs.transform_split(t, fields, split, SPECIALS, 512)


def test_encoded_batch_layout():
    _, enc = encoded_example()
    assert len(enc) == 2 and enc.longest == 7 and enc.tokens.dtype == np.uint16
    X, M, Y = enc.batch([1, 0], 9, 50)
    np.testing.assert_array_equal(X[0, 0, :, 0], [S, 4, D, 6, E, 0, 0, 0, 0])
    np.testing.assert_array_equal(X[1, 0, :, 0], [S, 1, 2, 3, D, 5, E, 0, 0])
    np.testing.assert_array_equal(X[..., 1], np.broadcast_to(50 + np.arange(9), (2, 1, 9)))
    np.testing.assert_array_equal(M[:, 0].sum(1), [5, 7])
    np.testing.assert_array_equal(Y, [0, 1])
    assert X.dtype == np.int32 and M.dtype == np.float32 and Y.dtype == np.int32


def test_prepare_task_uses_and_reuses_the_cache(tmp_path, gpt1_dir, capsys):
    task = get_task("sst2")
    texts = ["a fine film .", "dull , dull , dull .", "it 's a fine film ."]
    splits = {name: Split(texts={"sentence": texts}, labels=np.array([1, 0, 1]),
                          index=[0, 1, 2]) for name in ("train", "valid")}
    enc, bpe = os.path.join(gpt1_dir, "encoder_bpe_40000.json"), os.path.join(
        gpt1_dir, "vocab_40000.bpe")
    cache = str(tmp_path / "cache")
    first = inputs.prepare_task(task, splits, enc, bpe, 512, cache_dir=cache)
    assert len(os.listdir(cache)) == 1
    assert "cached" not in capsys.readouterr().out
    second = inputs.prepare_task(task, splits, enc, bpe, 512, cache_dir=cache)
    assert "cached" in capsys.readouterr().out
    assert first[:3] == second[:3] == (40478, 8, (40478, 40479, 40480))
    np.testing.assert_array_equal(first[3]["train"].tokens, second[3]["train"].tokens)
    # Other texts: another key.
    splits["valid"] = Split(texts={"sentence": texts[:2]}, labels=np.array([1, 0]), index=[0, 1])
    inputs.prepare_task(task, splits, enc, bpe, 512, cache_dir=cache)
    assert len(os.listdir(cache)) == 2


def test_parallel_encoding_equals_serial(gpt1_dir, monkeypatch):
    enc, bpe = os.path.join(gpt1_dir, "encoder_bpe_40000.json"), os.path.join(
        gpt1_dir, "vocab_40000.bpe")
    texts = ["Story number %d: the cat sat -- on the mat!" % i for i in range(30)]
    serial = inputs.encode_texts(texts, enc, bpe, workers=1)
    monkeypatch.setattr(inputs, "PARALLEL_MIN", 10)
    monkeypatch.setattr(inputs, "CHUNK", 7)
    assert inputs.encode_texts(texts, enc, bpe, workers=2) == serial


# -- submissions and analysis ----------------------------------------------------------

def test_submission_format(tmp_path):
    path = str(tmp_path / "sub" / "MNLI-m.tsv")
    t = get_task("mnli")
    analysis.write_submission(path, ["0", "1", "2"], t.prediction_strings(np.array([2, 0, 1])))
    assert open(path).read() == "index\tprediction\n0\t%s\n1\t%s\n2\t%s\n" % (
        t.label_names[2], t.label_names[0], t.label_names[1])
    s = get_task("stsb")
    assert s.prediction_strings(np.array([3.6934, 0.0])) == ["3.693", "0.000"]
    assert get_task("sst2").prediction_strings(np.array([1, 0])) == ["1", "0"]


def test_report_lines(capsys):
    t = get_task("race")
    analysis.report(t, {"valid": {"acc": 50.0}, "test": {
        "acc": 59.0, "middle acc": 62.9, "high acc": 57.4}})
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(" 50.00") and "Valid" in out[0] and "Accuracy" in out[0]
    assert any("Test middle Accuracy:" in line and line.endswith("62.90") for line in out)
    assert len({line.rindex(" ") for line in out}) == 1  # values line up


def test_bench_reads_the_declaration():
    """bench --dataset takes K and the head from the task (inputs stay synthetic); the
    default is the original's ROCStories step, with the same draws as before."""
    from finetune_lm import bench
    base = ["--n_layer", "1", "--n_embd", "8", "--n_head", "2", "--n_vocab", "50", "--n_ctx", "12"]
    for name, k, head, n_out in (("race", 4, "choice", 1), ("stsb", 2, "pair_sum", 6),
                                 ("cola", 1, "linear", 2), ("rocstories", 2, "choice", 1)):
        args = bench.build_parser().parse_args(base + ["--dataset", name])
        hp = bench.make_hparams(args)
        assert (hp.n_seq, hp.head, hp.n_out) == (k, head, n_out)
        X, M, Y = bench.synthetic_batch(hp, 5)
        assert X.shape == (5, k, 12, 2) and M.shape == (5, k, 12)
        if hp.soft_targets:
            assert Y.shape == (5, 6) and np.allclose(Y.sum(1), 1)
        else:
            assert Y.shape == (5,) and Y.max() < heads.n_logits(hp)
    assert bench.build_parser().parse_args(base).dataset == "rocstories"
    with pytest.raises(Exception, match="sst3"):
        bench.check_args(bench.build_parser().parse_args(base + ["--dataset", "sst3"]))


# -- the training loop (docs/fidelity.md "Training loop and outputs") -----------------------

def test_loop_evaluations_best_rule_and_train_rows(tmp_path):
    """Evaluations after each epoch and at updates 1000 and 2000 of the first only; the
    train figures on the first n_valid training examples in file order; the best kept
    only on a strictly better valid score (from 0 for accuracy); the last partial batch
    dropped. The step and predictions are stubs: this tests the loop (training/loop.py)
    and fine-tuning's hooks (training/finetuning.py) alone."""
    task = get_task("sst2")
    n_train, n_valid = 2050, 3
    hp = HParams(n_vocab=60, n_ctx=4, n_embd=C, n_head=2, n_layer=1, clf_token=E, head="linear",
                 n_seq=1, n_out=2, n_batch=1, n_gpu=1)

    def split(n, labels):
        seqs = [[S, i % 50 + 1, E] for i in range(n)]  # the token after _start_ names the row
        tokens, offsets = inputs.flatten(seqs)
        labels = np.asarray(labels, np.int64)
        return inputs.Encoded(tokens, offsets, 1, labels, labels.astype(np.int32), list(range(n)))

    data = {"train": split(n_train, np.zeros(n_train)), "valid": split(n_valid, [1, 1, 1])}
    calls = {"steps": 0, "train_rows": [], "valid": 0}
    # Valid accuracy per evaluation: 1000, 2000, end of epoch 1, end of epoch 2.
    valid_right = iter([1, 1, 3, 2])

    def train_step(X, M, Y):  # StepOutput(loss, (clf logits, clf losses), grad_norm, lr)
        calls["steps"] += 1
        return towers.StepOutput(0.5, (np.zeros((1, 2), np.float32), np.zeros(1, np.float32)),
                                 0.5, 1e-4)

    def predict(X, M, Y):  # evaluation batches of n_batch * n_gpu = 1 example
        row = int(X[0, 0, 1, 0]) - 1
        if Y[0] == 1:  # the valid split: right on its first k examples
            if row == 0:
                calls["k"] = next(valid_right)
            logits = [[0, 1]] if row < calls["k"] else [[1, 0]]
        else:
            calls["train_rows"].append(row)
            logits = [[1, 0]]
        return np.array(logits, np.float32), np.full(1, 0.7, np.float32)

    lines, bests = [], []

    class Log:
        def log(self, **kw):
            lines.append(kw)

    paths = {"log": str(tmp_path / "log.jsonl"), "tensorboard": str(tmp_path / "tb"),
             "submissions": {}}
    # Not the chief: nothing is written (no state, checkpoint or TensorBoard needed).
    job = FineTuneJob(task, hp, None, data, predict, None, None, paths, {"submit": False},
                      chief=False)
    job.logger = Log()
    job.save_best = lambda: bests.append(job.n_updates)
    n_updates = loop.Loop(train_step, job, 2, job.n_batches).run()
    assert n_updates == calls["steps"] == 2 * n_train  # batches of 1: none partial here
    assert [(e["n_epochs"], e["n_updates"]) for e in lines] == [
        (0, 1000), (0, 2000), (1, 2050), (2, 4100)]
    assert [e["va_acc"] for e in lines] == pytest.approx([100 / 3, 100 / 3, 100.0, 200 / 3])
    assert bests == [1000, 2050]  # 1000: better than 0; 2000: equal, not kept; 4100: worse
    # The train figures: the first n_valid examples in file order, at each evaluation.
    assert calls["train_rows"] == list(range(n_valid)) * 4
    assert all(e["tr_cost"] == pytest.approx(0.7) for e in lines)
