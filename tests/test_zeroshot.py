"""The zero-shot heuristics (finetune_lm/zeroshot.py, lm/zeroshot.py, tasks/zeroshot.py):
each one, on a tiny LM pre-trained here on a synthetic corpus built so that it must work,
scores well above chance, and the same scores against shuffled labels do not; the
DPRD reader on the shared files; the pronoun substitution; the threshold fit against a
brute force; the command's last line and per-example output.

Tiny model: 2 layers, width 32, 4 heads, 32 positions, a vocabulary of the corpus's
words, pre-trained in this process by finetune_lm.pretrain (400 updates, about a
minute on 2 cores: the tests that read it are marked slow)."""

import json
import os

import numpy as np
import pytest

from helpers import data_dir
from finetune_lm import pretrain, zeroshot
from finetune_lm.tasks import Split
from finetune_lm.tasks import dprd
from finetune_lm.tasks.metrics import MATTHEWS
from finetune_lm.tasks.zeroshot import BY_NAME, substitute

POS = ["good", "great", "nice", "fine", "lovely", "happy"]
NEG = ["bad", "awful", "poor", "dull", "ugly", "sad"]
NOUNS = ["film", "plot", "song", "meal", "show", "book"]
SUBJECTS = {"sky": "blue", "grass": "green", "snow": "white", "coal": "black"}
ANIMALS = {"dog": "hungry", "cat": "scared", "cow": "tired", "fox": "angry"}
GRAMMAR = ["the man saw a bird", "a girl ate the cake", "the boy read a book",
           "a woman drove the car", "the child held a cup", "a teacher wrote the note"]


def corpus_sentences(rs, n):
    """Sentences of the four families, each teaching one heuristic its answer."""
    out = []
    for _ in range(n):
        kind = rs.randint(4)
        if kind == 0:  # SST-2: "very positive" after a positive word
            good = rs.randint(2)
            word = rs.choice(POS if good else NEG)
            out.append("the %s was %s very %s ." % (rs.choice(NOUNS), word,
                                                    "positive" if good else "negative"))
        elif kind == 1:  # RACE: a subject's one colour
            s = rs.choice(sorted(SUBJECTS))
            out.append("the %s is %s ." % (s, SUBJECTS[s]))
        elif kind == 2:  # DPRD: the noun before "was" says how it was
            a, b = rs.choice(sorted(ANIMALS), 2, replace=False)
            c = (a, b)[rs.randint(2)]
            out.append("the %s chased the %s because the %s was %s ." % (a, b, c, ANIMALS[c]))
        else:  # CoLA: grammatical sentences only
            out.append(GRAMMAR[rs.randint(len(GRAMMAR))] + " .")
    return out


def tiny_vocabulary(folder, words):
    """encoder.json and vocab.bpe of a small vocabulary: every word's left-to-right
    merges, and every piece BPE can make of them (single characters, merge results),
    so no piece is unknown: a softmax of a few hundred rows trains in seconds."""
    merges, pieces_seen = [], set()
    for w in words:
        pieces = list(w[:-1]) + [w[-1] + "</w>"]
        pieces_seen |= set(pieces) | {c + "</w>" for c in w}
        while len(pieces) > 1:
            pair = (pieces[0], pieces[1])
            if pair not in merges:
                merges.append(pair)
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
    pieces_seen |= {a + b for a, b in merges}
    encoder = {p: i for i, p in enumerate(sorted(pieces_seen))}
    encoder["\n</w>"] = len(encoder)  # the corpus's line ends (data/corpus.py)
    enc, bpe = str(folder / "encoder.json"), str(folder / "vocab.bpe")
    with open(enc, "w") as f:
        json.dump(encoder, f)
    with open(bpe, "w") as f:
        f.write("#version: tiny\n" + "".join("%s %s\n" % m for m in merges))
    return enc, bpe


def all_words():
    words = set("the was very positive negative is chased because it . a".split())
    words |= set(POS + NEG + NOUNS) | set(SUBJECTS) | set(SUBJECTS.values())
    words |= set(ANIMALS) | set(ANIMALS.values()) | {w for s in GRAMMAR for w in s.split()}
    return sorted(words)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A released-format folder pre-trained on the synthetic corpus (in process), with
    its own whole-word vocabulary."""
    folder = tmp_path_factory.mktemp("zs")
    enc, bpe = tiny_vocabulary(folder, all_words())
    rs = np.random.RandomState(0)
    (folder / "corpus.txt").write_text(" ".join(corpus_sentences(rs, 600)) + "\n",
                                       encoding="utf-8")
    argv = ["--corpus", str(folder / "corpus.txt"), "--desc", "zs", "--log_dir",
            str(folder / "log"), "--save_dir", str(folder / "save"), "--cache_dir",
            str(folder / "cache"), "--no_xla", "--encoder_path", enc, "--bpe_path", bpe,
            "--n_layer", "2", "--n_embd", "32", "--n_head", "4", "--n_ctx", "32",
            "--n_batch", "8", "--n_gpu", "1", "--n_iter", "25", "--lr", "5e-3",
            "--lr_warmup_updates", "10", "--workers", "1", "--embd_pdrop", "0",
            "--attn_pdrop", "0", "--resid_pdrop", "0"]
    data = folder / "data" / "DPRD"
    data.mkdir(parents=True)
    write_dprd(data, dprd_split(np.random.RandomState(0)))
    argv += ["--zeroshot", "dprd", "--zeroshot_at", "1,300", "--zeroshot_data_root",
             str(folder / "data")]
    pretrain.run(pretrain.build_parser().parse_args(argv))
    return str(folder / "save" / "zs" / "params")


@pytest.fixture(scope="module")
def model(tiny_lm):
    args = zeroshot.build_parser().parse_args(["--task", "sst2", "--params_dir", tiny_lm,
                                                "--no_xla"])
    return zeroshot.load_model(args)


def write_dprd(folder, split):
    """train.c.txt and test.c.txt of a Split in DPRD's format."""
    lines = []
    for i in range(len(split)):
        c = (split.texts["candidate0"][i], split.texts["candidate1"][i])
        lines += [split.texts["sentence"][i], "it", ",".join(c), c[split.labels[i]], ""]
    for name in ("train.c.txt", "test.c.txt"):
        (folder / name).write_text("\n".join(lines), encoding="utf-8")


def split_of(texts, labels):
    return Split(texts=texts, labels=np.asarray(labels, np.int64),
                 index=list(range(len(labels))))


def sst2_split(rs):
    rows = [("the %s was %s" % (n, w), int(w in POS)) for n in NOUNS for w in POS + NEG]
    return split_of({"sentence": [r[0] for r in rows]}, [r[1] for r in rows])


def cola_split(rs, n=40):
    texts, labels = [], []
    for i in range(n):
        words = GRAMMAR[i % len(GRAMMAR)].split()
        if i % 2:
            texts.append(" ".join(words) + " .")
        else:
            texts.append(" ".join(rs.permutation(words)) + " .")
        labels.append(i % 2)
    return split_of({"sentence": texts}, labels)


def race_split(rs):
    colours = sorted(set(SUBJECTS.values()))
    t = {"article": [], "question": []}
    t.update({"option%d" % k: [] for k in range(4)})
    labels = []
    for i in range(16):
        s = sorted(SUBJECTS)[i % 4]
        opts = list(rs.permutation(colours))
        t["article"].append("the %s" % s)
        t["question"].append("is")
        for k, o in enumerate(opts):
            t["option%d" % k].append(o + " .")
        labels.append(opts.index(SUBJECTS[s]))
    return split_of(t, labels)


def dprd_split(rs):
    t = {f: [] for f in dprd.FIELDS}
    labels = []
    for a in sorted(ANIMALS):
        for b in sorted(ANIMALS):
            if a == b:
                continue
            for right in (0, 1):
                c = (a, b)[right]
                t["sentence"].append("the %s chased the %s because it was %s ."
                                     % (a, b, ANIMALS[c]))
                t["pronoun"].append("it")
                t["candidate0"].append("the " + a)
                t["candidate1"].append("the " + b)
                labels.append(right)
    return split_of(t, labels)


SPLITS = {"sst2": sst2_split, "cola": cola_split, "race": race_split, "dprd": dprd_split}


def shuffled(split, seed):
    rs = np.random.RandomState(seed)
    return Split(texts=split.texts, labels=rs.permutation(split.labels), index=split.index)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SPLITS))
def test_heuristic_well_above_chance_and_not_with_shuffled_labels(model, name):
    encoder, params, hp = model
    zs = BY_NAME[name]
    split = SPLITS[name](np.random.RandomState(1))
    fit = SPLITS[name](np.random.RandomState(2)) if zs.kind == "threshold" else None
    result = zeroshot.score(zs, params, hp, encoder, split, fit, bar=False)
    # well above chance: at least 60% of the way from chance to a perfect score
    best = 100.0
    assert result["value"] >= zs.chance + 0.6 * (best - zs.chance), result["value"]
    assert result["relative"] == pytest.approx(
        (result["value"] - zs.chance) / (zs.sota - zs.chance))
    # the same predictions against shuffled labels: near chance
    for seed in (0, 1):
        control = zs.metric.fn(result["predictions"], shuffled(split, seed).labels)
        assert abs(control - zs.chance) < 0.45 * (best - zs.chance), (seed, control)


@pytest.mark.slow
def test_cola_control_threshold_fitted_on_shuffled_labels_is_near_chance(model):
    encoder, params, hp = model
    zs = BY_NAME["cola"]
    split, fit = cola_split(np.random.RandomState(1)), cola_split(np.random.RandomState(2))
    real = zeroshot.score(zs, params, hp, encoder, split, fit, bar=False)
    control = zeroshot.score(zs, params, hp, encoder, shuffled(split, 3), shuffled(fit, 4),
                             bar=False)
    assert real["value"] > 60 and abs(control["value"]) < 40, (real["value"], control["value"])


@pytest.mark.slow
def test_command_prints_the_choices_and_the_last_line(tiny_lm, tmp_path, capsys):
    folder = tmp_path / "DPRD"
    folder.mkdir()
    split = dprd_split(np.random.RandomState(0))
    write_dprd(folder, split)
    out_tsv = tmp_path / "scores.tsv"
    assert zeroshot.main(["--task", "dprd", "--params_dir", tiny_lm, "--data_dir", str(folder),
                          "--output", str(out_tsv), "--no_xla"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith("choice: ") for line in out)
    assert any(line.startswith("sota: 73.05") for line in out)
    task, split_name, metric, value, word, rel = out[-1].split()
    assert (task, split_name, metric, word) == ("dprd", "test", "accuracy", "relative")
    assert float(rel) == pytest.approx((float(value) - 50) / (73.05 - 50), abs=1e-4)
    rows = out_tsv.read_text().splitlines()
    assert rows[0] == "index\tlabel\tprediction\tscore0\tscore1" and len(rows) == 1 + len(split)
    acc = np.mean([r.split("\t")[1] == r.split("\t")[2] for r in rows[1:]]) * 100
    assert acc == pytest.approx(float(value), abs=1e-3)


def test_dprd_reader_on_the_shared_files():
    splits = dprd.load(data_dir("dprd"))
    assert {k: len(v) for k, v in splits.items()} == {"train": 1322, "test": 564}
    train = splits["train"]
    assert train.texts["sentence"][0] == "The bee landed on the flower because it had pollen."
    assert (train.texts["pronoun"][0], train.texts["candidate0"][0],
            train.texts["candidate1"][0], int(train.labels[0])) == ("it", "The bee",
                                                                    "the flower", 1)
    assert int(train.labels[1]) == 0
    for s in splits.values():
        assert set(np.unique(s.labels)) == {0, 1}
        for sent, p in zip(s.texts["sentence"], s.texts["pronoun"]):
            substitute(sent, p, "X")  # every pronoun is found in its sentence


def test_dprd_reader_names_a_bad_example(tmp_path):
    path = tmp_path / "train.c.txt"
    path.write_text("A saw B because he was tall.\nhe\nA,B\nA\n\nC.\nit\nC\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"train.c.txt, line 6: an example of 3 lines"):
        dprd.read_file(str(path))


def test_substitution_takes_the_first_whole_word_occurrence():
    assert substitute("The man thanked him because he helped him.", "him", "John") == (
        "The man thanked John", " because he helped him.")
    assert substitute("With it, it worked.", "it", "the key") == ("With the key", ", it worked.")
    assert substitute("He saw them.", "he", "Tom") == ("Tom", " saw them.")
    # at the end: the candidate itself is scored after what comes before
    assert substitute("Bob called Tom and thanked him.", "him", "Tom") == (
        "Bob called Tom and thanked", "Tom.")


def test_fit_threshold_maximises_mcc_as_a_brute_force():
    from finetune_lm.lm.zeroshot import fit_threshold
    rs = np.random.RandomState(0)
    scores = rs.randn(60)
    labels = (scores + rs.randn(60) > 0).astype(int)
    t = fit_threshold(scores, labels, MATTHEWS.fn)
    best = max(MATTHEWS.fn(scores > s - 1e-12, labels) for s in scores)
    assert MATTHEWS.fn(scores > t, labels) == pytest.approx(best)
    assert MATTHEWS.fn(scores > t, labels) > 20


@pytest.mark.slow
def test_pretraining_logs_the_curve_and_the_command_draws_it(tiny_lm, capsys):
    """pretrain --zeroshot dprd --zeroshot_at 1,300: two log lines; at update 300 the
    heuristic is well above where it starts; --curve writes the CSV and markdown."""
    log = os.path.join(os.path.dirname(tiny_lm), "..", "..", "log", "zs.jsonl")
    points = zeroshot.curve_points(log)
    assert [(p[0], p[1], p[2]) for p in points] == [(1, "dprd", "accuracy"),
                                                     (300, "dprd", "accuracy")]
    assert points[1][3] >= 80 and points[1][3] > points[0][3]
    assert zeroshot.main(["--curve", log]) == 0
    stem = os.path.splitext(log)[0] + "_zeroshot"
    rows = open(stem + ".csv").read().splitlines()
    assert rows[0] == "updates,task,metric,value,relative" and rows[2].startswith("300,dprd,")
    assert "| 300 | dprd | accuracy |" in open(stem + ".md").read()


def test_sequence_logprobs_are_each_sequence_scored_alone():
    """The batched engine (sequences sorted, padded to BUCKET multiples, n_batch at a
    time) against each sequence alone in perplexity's window (token_logprobs)."""
    from helpers import LM_HP, lm_params
    from finetune_lm.training.model import Model
    hp = LM_HP.replace(xla=False)
    arrays = list(lm_params(hp, seed=3, variables=False).values())
    lm = Model(hp, arrays)
    rs = np.random.RandomState(0)
    lengths = [1, 2, 24, 5, 17, 16, 3]
    seqs = [list(rs.randint(0, hp.n_vocab, n)) for n in lengths]
    got = lm.sequence_logprobs(seqs, n_batch=3)
    assert [g.shape for g in got] == [(n - 1,) for n in lengths]
    assert all(g.dtype == np.float32 for g in got)
    alone = lm.scorer(n_batch=1)  # one window of n_ctx per sequence: one compiled shape
    for seq, g in zip(seqs, got):
        want = -alone.token_losses(np.asarray(seq))
        assert np.allclose(g, want, rtol=0, atol=1e-5), (len(seq), np.abs(g - want).max())
    with pytest.raises(ValueError, match="expected 1..24"):
        lm.sequence_logprobs([[1] * 25])
