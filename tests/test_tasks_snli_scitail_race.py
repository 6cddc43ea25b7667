"""finetune_lm.tasks.snli, .scitail and .race: loaders on the real files under
$FINETUNE_LM_DATA (snli/processed, snli/glue_format_samples, scitail/tsv_format,
race/{dev,test}), the official layouts rebuilt from them in tmp_path where a split
is missing here, every bad input's message, and the declarations' transformations."""

import collections
import csv
import json
import os
import shutil

import numpy as np
import pytest

from helpers import data_dir
from finetune_lm.util.errors import UserError
from finetune_lm.tasks import get_task, race, scitail, snli

SPECIALS = (100, 101, 102)
SNLI_LABELS = ("entailment", "neutral", "contradiction")


def one_line(err):
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


# -- SNLI: official jsonl rebuilt from the processed copies ------------------------

def snli_row(premise, hypothesis, label, pair_id):
    """One line of snli_1.0_*.jsonl, with every official key."""
    return json.dumps({
        "annotator_labels": [label], "captionID": pair_id.split("r")[0],
        "gold_label": label, "pairID": pair_id,
        "sentence1": premise, "sentence1_binary_parse": "( x )",
        "sentence1_parse": "(ROOT (X x))",
        "sentence2": hypothesis, "sentence2_binary_parse": "( y )",
        "sentence2_parse": "(ROOT (Y y))"}, ensure_ascii=False)


def processed_dev():
    """(premise, hypothesis, label string) of the 9842 gold SNLI dev pairs."""
    path = os.path.join(data_dir("snli/processed"), "dev.anthonywchen.jsonl")
    with open(path, encoding="utf-8") as f:
        return [(r["premise"], r["hypothesis"], r["label"]) for r in map(json.loads, f)]


def processed_test():
    """The 9824 gold SNLI test pairs of the BECEL export (pandas csv quoting, 0/1/2)."""
    path = os.path.join(data_dir("snli/processed"), "test.becel.tsv")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    assert rows[0] == ["premise", "hypothesis", "label"]
    return [(p, h, SNLI_LABELS[int(y)]) for p, h, y in rows[1:]]


def write_snli(path, rows, stem, no_gold_at=()):
    """rows as snli_1.0_<stem>.jsonl, pairIDs <stem>N, and a "-" row before each
    position in no_gold_at (len(rows) for one at the end)."""
    lines = []
    for i, (p, h, y) in enumerate(rows):
        if i in no_gold_at:
            lines.append(snli_row("A no-gold premise %d." % i, "Undecided.", "-", "nogold%dr1n" % i))
        lines.append(snli_row(p, h, y, "%s%dr1e" % (stem, i)))
    if len(rows) in no_gold_at:
        lines.append(snli_row("A last no-gold premise.", "Undecided.", "-", "nogoldendr1n"))
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def snli_dir(tmp_path_factory):
    dev, test = processed_dev(), processed_test()
    d = tmp_path_factory.mktemp("snli_1.0")
    write_snli(d / "snli_1.0_train.jsonl", dev[:300], "train", no_gold_at=(5,))
    write_snli(d / "snli_1.0_dev.jsonl", dev, "dev", no_gold_at=(0, 4000, len(dev)))
    write_snli(d / "snli_1.0_test.jsonl", test, "test", no_gold_at=(17, 9000))
    return str(d)


def test_snli_jsonl_counts_and_labels(snli_dir):
    splits = snli.load(snli_dir)
    assert sorted(splits) == ["test", "train", "valid"]
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [300, 9842, 9824]
    for s in splits.values():
        assert s.labels.dtype == np.int64
        assert set(s.texts) == {"premise", "hypothesis"}
        assert s.groups is None
        assert all(len(v) == len(s) for v in s.texts.values())
        assert not any(p.startswith("A no-gold") or p.startswith("A last no-gold")
                       for p in s.texts["premise"])
        assert not any(i.startswith("nogold") for i in s.index)
    assert np.bincount(splits["valid"].labels).tolist() == [3329, 3235, 3278]
    assert np.bincount(splits["test"].labels).tolist() == [3368, 3219, 3237]
    assert splits["valid"].source == os.path.join(snli_dir, "snli_1.0_dev.jsonl")


def test_snli_jsonl_first_and_last(snli_dir):
    splits = snli.load(snli_dir)
    va, te = splits["valid"], splits["test"]
    assert (va.texts["premise"][0], va.texts["hypothesis"][0], va.labels[0], va.index[0]) == (
        "Two women are embracing while holding to go packages.",
        "The sisters are hugging goodbye while holding to go packages after just eating lunch.",
        1, "dev0r1e")
    assert (va.texts["premise"][-1], va.texts["hypothesis"][-1], va.labels[-1]) == (
        "A young girl with blue and pink ribbons in her braids, without a top and a woman with "
        "a white t-shirt and a zebra skirt wading in a public water fountain.",
        "A young mother tries to grab her topless child from a water foutain before she "
        "attracts attention", 1)
    assert va.index[-1] == "dev9841r1e"
    assert (te.texts["premise"][0], te.texts["hypothesis"][0], te.labels[0]) == (
        "This church choir sings to the masses as they sing joyous songs from the book at a "
        "church.", "The church has cracks in the ceiling.", 1)
    assert (te.texts["premise"][-1], te.texts["hypothesis"][-1], te.labels[-1]) == (
        "A man in a black leather jacket and a book in his hand speaks in a classroom.",
        "A man is teaching science in a classroom.", 1)
    # The BECEL export's csv quoting is undone: the quotes are part of the text.
    assert any(p.endswith('a sign that says "HI-POINTE."') for p in te.texts["premise"])


def test_snli_jsonl_wins_over_glue(snli_dir, tmp_path):
    for name in os.listdir(snli_dir):
        shutil.copy(os.path.join(snli_dir, name), tmp_path / name)
    (tmp_path / "train.tsv").write_text("garbage\n", encoding="utf-8")
    assert len(snli.load(str(tmp_path))["train"]) == 300


def write_lines(path, lines, end="\n"):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines) + end)
    return str(path)


def small_snli(tmp_path, bad_train_lines):
    ok = [snli_row("A man sleeps.", "A person rests.", "entailment", "1r1e")]
    write_lines(tmp_path / "snli_1.0_train.jsonl", bad_train_lines)
    write_lines(tmp_path / "snli_1.0_dev.jsonl", ok)
    write_lines(tmp_path / "snli_1.0_test.jsonl", ok)
    return str(tmp_path)


def test_snli_bad_jsonl_line(tmp_path):
    good = snli_row("A man sleeps.", "A person rests.", "entailment", "1r1e")
    d = small_snli(tmp_path, [good, good, '{"sentence1": "A man sleeps.", '])
    with pytest.raises(UserError) as err:
        snli.load(d)
    msg = one_line(err)
    assert "snli_1.0_train.jsonl, line 3" in msg and "not JSON" in msg


def test_snli_missing_key(tmp_path):
    good = json.loads(snli_row("A man sleeps.", "A person rests.", "entailment", "1r1e"))
    del good["sentence2"]
    d = small_snli(tmp_path, [snli_row("a", "b", "neutral", "2r1n"), json.dumps(good)])
    with pytest.raises(UserError) as err:
        snli.load(d)
    msg = one_line(err)
    assert "snli_1.0_train.jsonl, line 2" in msg and "'sentence2'" in msg


def test_snli_unknown_label(tmp_path):
    d = small_snli(tmp_path, [snli_row("a", "b", "neutral", "2r1n"),
                              snli_row("a", "b", "entails", "3r1n")])
    with pytest.raises(UserError) as err:
        snli.load(d)
    msg = one_line(err)
    assert "snli_1.0_train.jsonl, line 2" in msg and "'entails'" in msg
    assert "entailment, neutral, contradiction" in msg


def test_snli_not_an_object(tmp_path):
    d = small_snli(tmp_path, ['["a", "b"]'])
    with pytest.raises(UserError) as err:
        snli.load(d)
    assert "snli_1.0_train.jsonl, line 1" in one_line(err)


def test_snli_missing_file(tmp_path):
    small_snli(tmp_path, [snli_row("a", "b", "neutral", "2r1n")])
    os.remove(tmp_path / "snli_1.0_test.jsonl")
    with pytest.raises(UserError) as err:
        snli.load(str(tmp_path))
    msg = one_line(err)
    assert "snli_1.0_test.jsonl" in msg and "snli_1.0.zip" in msg
    with pytest.raises(UserError) as err:
        snli.load(str(tmp_path / "nowhere"))
    assert "snli_1.0_train.jsonl" in one_line(err)


# -- SNLI: GLUE layout, on the LM-BFF samples of GLUE's SNLI train.tsv --------------

@pytest.fixture
def snli_glue_dir(tmp_path):
    src = data_dir("snli/glue_format_samples")
    shutil.copy(os.path.join(src, "lmbff_16-42_train.tsv"), tmp_path / "train.tsv")
    shutil.copy(os.path.join(src, "lmbff_16-42_dev.tsv"), tmp_path / "dev.tsv")
    shutil.copy(os.path.join(src, "lmbff_16-42_dev.tsv"), tmp_path / "test.tsv")
    return str(tmp_path)


def test_snli_glue_layout(snli_glue_dir):
    splits = snli.load(snli_glue_dir)
    tr, va = splits["train"], splits["valid"]
    assert (len(tr), len(va), len(splits["test"])) == (48, 48, 48)
    assert np.bincount(tr.labels).tolist() == [16, 16, 16]
    assert tr.labels.dtype == np.int64
    assert (tr.index[0], tr.texts["premise"][0], tr.texts["hypothesis"][0], tr.labels[0]) == (
        "544000", "A group of young boys in blue swimming suits attempt to jump into a pool to "
        "their swimming instructors.", "The boys are playing in the grass.", 2)
    # Line 36 has 15 fields (label1..label5, gold_label): the header's gold_label column
    # (11th) holds label2 "entailment"; the last field, the gold label, is "neutral".
    assert (tr.index[34], tr.texts["hypothesis"][34], tr.labels[34]) == (
        "143773", "The dog got on the trampoline to play.", 1)
    assert (tr.index[-1], tr.labels[-1]) == ("481942", 1)
    assert tr.texts["premise"][-1].startswith("A woman wearing a blue, black, and white two")
    assert (va.index[0], va.labels[0], va.index[-1], va.labels[-1]) == ("95288", 2, "362388", 1)
    assert (va.index[7], va.texts["premise"][7], va.labels[7]) == (
        "404073", "A black and white image of a jogger running in the rain on a street after "
        "a car.", 2)


def test_snli_glue_bad_label_and_short_row(snli_glue_dir):
    path = os.path.join(snli_glue_dir, "dev.tsv")
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    lines[3] = lines[3].rsplit("\t", 1)[0] + "\tentails"
    write_lines(path, lines, end="")
    with pytest.raises(UserError) as err:
        snli.load(snli_glue_dir)
    msg = one_line(err)
    assert "dev.tsv, line 4" in msg and "'entails'" in msg
    lines[3] = "1\t2\t3"
    write_lines(path, lines, end="")
    with pytest.raises(UserError) as err:
        snli.load(snli_glue_dir)
    assert "dev.tsv, line 4" in one_line(err)


# -- SciTail -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scitail_dir(tmp_path_factory):
    src = data_dir("scitail/tsv_format")
    d = tmp_path_factory.mktemp("tsv_format")
    shutil.copy(os.path.join(src, "scitail_1.0_dev.tsv"), d / "scitail_1.0_train.tsv")
    for stem in ("dev", "test"):
        shutil.copy(os.path.join(src, "scitail_1.0_%s.tsv" % stem), d)
    return str(d)


def test_scitail_counts_and_labels(scitail_dir):
    splits = scitail.load(scitail_dir)
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [1304, 1304, 2126]
    assert np.bincount(splits["valid"].labels).tolist() == [657, 647]
    assert np.bincount(splits["test"].labels).tolist() == [842, 1284]
    te = splits["test"]
    assert te.labels.dtype == np.int64 and te.groups is None
    assert te.index == list(range(2126))
    assert te.source == os.path.join(scitail_dir, "scitail_1.0_test.tsv")


def test_scitail_first_and_last(scitail_dir):
    splits = scitail.load(scitail_dir)
    va, te = splits["valid"], splits["test"]
    assert (va.texts["premise"][0], va.texts["hypothesis"][0], va.labels[0]) == (
        "An introduction to atoms and elements, compounds, atomic structure and bonding, the "
        "molecule and chemical reactions.",
        "Replace another in a molecule happens to atoms during a substitution reaction.", 1)
    assert (va.texts["premise"][-1], va.texts["hypothesis"][-1], va.labels[-1]) == (
        "A lunar eclipse occurs when the Moon passes through Earth's shadow.",
        "When earth\u2019s shadow falls on the moon, the shadow causes a lunar eclipse.", 0)
    assert (te.texts["premise"][0], te.texts["hypothesis"][0], te.labels[0]) == (
        "Based on the list provided of the uses of substances 1-7, estimate the pH of each "
        "unknown and record the number in the data table in the estimated pH column.",
        "If a substance has a ph value greater than 7,that indicates that it is base.", 1)
    assert te.texts["hypothesis"][-1] == ("Elements on the periodic table of the elements are "
                                          "classified into categories such as metals and "
                                          "nonmetals.")
    # Two spaces kept as in the file.
    assert te.texts["premise"][-1].endswith("metalloids, and  nonmetals encompassing the entire "
                                            "periodic table of the elements.")
    assert te.labels[-1] == 1


def small_scitail(tmp_path, train_lines):
    ok = ["A cat is a mammal.\tCats are mammals.\tentails"]
    write_lines(tmp_path / "scitail_1.0_train.tsv", train_lines)
    write_lines(tmp_path / "scitail_1.0_dev.tsv", ok)
    write_lines(tmp_path / "scitail_1.0_test.tsv", ok)
    return str(tmp_path)


def test_scitail_bad_inputs(tmp_path):
    ok = "A cat is a mammal.\tCats are mammals.\tentails"
    # A quote opening a field is text (no csv quoting), not the start of a quoted field.
    d = small_scitail(tmp_path, ['"Quoted\tstart.\tneutral', ok])
    tr = scitail.load(d)["train"]
    assert tr.texts["premise"] == ['"Quoted', "A cat is a mammal."] and tr.labels.tolist() == [1, 0]
    small_scitail(tmp_path, [ok, "A.\tB.\tentailment"])
    with pytest.raises(UserError) as err:
        scitail.load(d)
    msg = one_line(err)
    assert "scitail_1.0_train.tsv, line 2" in msg and "'entailment'" in msg
    assert "entails, neutral" in msg
    small_scitail(tmp_path, [ok, ok, "A.\tB."])
    with pytest.raises(UserError) as err:
        scitail.load(d)
    assert "scitail_1.0_train.tsv, line 3" in one_line(err)
    small_scitail(tmp_path, ["A.\tB.\tC.\tneutral"])
    with pytest.raises(UserError) as err:
        scitail.load(d)
    msg = one_line(err)
    assert "scitail_1.0_train.tsv, line 1" in msg and "4 fields, expected 3" in msg
    small_scitail(tmp_path, [ok])
    os.remove(tmp_path / "scitail_1.0_dev.tsv")
    with pytest.raises(UserError) as err:
        scitail.load(d)
    msg = one_line(err)
    assert "scitail_1.0_dev.tsv" in msg and "SciTailV1.1" in msg


# -- RACE ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def race_dir(tmp_path_factory):
    """RACE/ with the real dev and test folders and a train folder of 3 middle and 2
    high dev passages."""
    src = data_dir("race")
    d = tmp_path_factory.mktemp("RACE")
    for stem in ("dev", "test"):
        os.symlink(os.path.join(src, stem), d / stem)
    for level, names in (("middle", ("8280.txt", "13.txt", "1011.txt")),
                         ("high", ("24267.txt", "63.txt"))):
        os.makedirs(d / "train" / level)
        for name in names:
            shutil.copy(os.path.join(src, "dev", level, name), d / "train" / level / name)
    return str(d)


@pytest.fixture(scope="module")
def race_splits(race_dir):
    return race.load(race_dir)


def test_race_counts_groups_labels(race_splits, race_dir):
    assert sorted(race_splits) == ["test", "train", "valid"]
    for split, middle, high in (("valid", 1436, 3451), ("test", 1436, 3498)):
        s = race_splits[split]
        assert len(s) == middle + high
        assert collections.Counter(s.groups) == {"middle": middle, "high": high}
        # middle first, then high
        assert s.groups == ["middle"] * middle + ["high"] * high
        assert s.labels.dtype == np.int64
        assert set(s.labels.tolist()) == {0, 1, 2, 3}
        assert set(s.texts) == {"article", "question", "option0", "option1", "option2",
                                "option3"}
        assert all(len(v) == len(s) for v in s.texts.values())
        assert len(set(s.index)) == len(s)
    assert race_splits["test"].source == os.path.join(race_dir, "test")


def test_race_first_and_last(race_splits):
    va, te = race_splits["valid"], race_splits["test"]

    def example(s, i):
        return ([s.texts[k][i] for k in ("question", "option0", "option1", "option2",
                                         "option3")], int(s.labels[i]), s.index[i], s.groups[i])

    assert example(va, 0) == (["When something reflects light, we can   _  .", "see its color",
                               "see its heat", "not see its color", "see nothing"], 0,
                              "middle13.txt-1", "middle")
    assert va.texts["article"][0].startswith("What is color? Why do some of the things around")
    assert example(va, -1) == (["The passage is mainly about  _   .", "the author's skating life",
                                "a lesson from skating", "the author's first job",
                                "how to be a good waitress"], 2, "high24267.txt-3", "high")
    assert va.texts["article"][-1].startswith("As a young ice skater, I had flown pretty high,")
    # The last middle question and the first high one: files by numeric stem.
    assert (va.index[1435], va.index[1436]) == ("middle8280.txt-6", "high63.txt-1")
    assert example(te, 0) == (["A discipline leader is supposed to  _  .",
                               "take care of the whole group",
                               "make sure that everybody finishes homework",
                               "make sure that nobody chats in class",
                               "collect all the homework and hand it in to teachers"], 2,
                              "middle1.txt-1", "middle")
    assert example(te, -1) == (["After reading the passage, we know that Karen   _  .",
                                "gave birth to the twin girls in her forties",
                                "now has three boys and three girls in total",
                                "was talked into having more kids by her husband",
                                "hoped she could have more girls soon"], 0,
                               "high24274.txt-2", "high")
    assert te.texts["article"][-1].startswith("A Scottish woman has given birth to twins for")
    assert (te.index[1435], te.index[1436]) == ("middle8275.txt-5", "high73.txt-1")
    # One article per question: every question of a passage repeats it.
    assert va.texts["article"][0] == va.texts["article"][1]


def test_race_article_newlines_and_train(race_splits, race_dir):
    with open(os.path.join(race_dir, "dev", "middle", "1011.txt"), encoding="utf-8") as f:
        raw = json.load(f)
    tr = race_splits["train"]
    # middle 13, 1011, 8280 (numeric order, not the copy order), then high 63, 24267
    ids = [i.rsplit("-", 1)[0] for i in tr.index]
    assert sorted(set(ids), key=ids.index) == ["middle13.txt", "middle1011.txt",
                                               "middle8280.txt", "high63.txt", "high24267.txt"]
    assert tr.index[0] == "middle13.txt-1" and tr.index[-1] == "high24267.txt-3"
    rows = [i for i, x in enumerate(tr.index) if x.startswith("middle1011.txt-")]
    assert len(rows) == len(raw["questions"]) == 5
    assert [tr.texts["question"][i] for i in rows] == raw["questions"]
    assert [int(tr.labels[i]) for i in rows] == ["ABCD".index(a) for a in raw["answers"]] == [
        2, 3, 2, 0, 2]
    assert "\n" in tr.texts["article"][rows[0]]
    assert tr.texts["article"][rows[0]] == raw["article"]


def passage(level, name, n=2, **override):
    obj = {"answers": ["A", "D"][:n], "options": [["a", "b", "c", "d"], ["e", "f", "g", "h"]][:n],
           "questions": ["Q1?", "Q2 _ ."][:n], "article": "An article.\nTwo lines.",
           "id": level + name}
    obj.update(override)
    return obj


def small_race(root, extra=()):
    """RACE/ with one passage per split and level, plus extra (split, level, name, text)."""
    for stem in ("train", "dev", "test"):
        for level in race.LEVELS:
            os.makedirs(root / stem / level, exist_ok=True)
            (root / stem / level / "7.txt").write_text(json.dumps(passage(level, "7.txt")),
                                                       encoding="utf-8")
    for stem, level, name, text in extra:
        (root / stem / level / name).write_text(text, encoding="utf-8")
    return str(root)


def test_race_order_numeric_then_name(tmp_path):
    names = ("10.txt", "9.txt", "100.txt", "b.txt", "a.txt")
    d = small_race(tmp_path, [("train", "middle", n, json.dumps(passage("middle", n, 1)))
                              for n in names] + [("train", "high", "README", "not a passage")])
    tr = race.load(d)["train"]
    assert tr.index == ["middle7.txt-1", "middle7.txt-2", "middle9.txt-1", "middle10.txt-1",
                        "middle100.txt-1", "middlea.txt-1", "middleb.txt-1",
                        "high7.txt-1", "high7.txt-2"]
    assert tr.groups == ["middle"] * 7 + ["high"] * 2
    assert tr.labels.tolist() == [0, 3, 0, 0, 0, 0, 0, 0, 3]
    assert tr.texts["option3"][:2] == ["d", "h"]


@pytest.mark.parametrize("text, expect", [
    ('{"answers": ["A"], ', ["dev/high/5.txt", "not JSON"]),
    (json.dumps(passage("high", "5.txt", options=[["a", "b", "c", "d"], ["e", "f", "g"]])),
     ["dev/high/5.txt, question 2", "3 options, expected 4"]),
    (json.dumps(passage("high", "5.txt", answers=["A", "E"])),
     ["dev/high/5.txt, question 2", "answer 'E'", "A, B, C, D"]),
    (json.dumps(passage("high", "5.txt", answers=["a", "B"])),
     ["dev/high/5.txt, question 1", "answer 'a'"]),
    (json.dumps(passage("high", "5.txt", answers=["A"])),
     ["dev/high/5.txt", "1 answers, 2 options lists and 2 questions"]),
    (json.dumps(passage("high", "5.txt", questions=["Q1?", "Q2?", "Q3?"])),
     ["dev/high/5.txt", "2 answers, 2 options lists and 3 questions"]),
    (json.dumps({k: v for k, v in passage("high", "5.txt").items() if k != "article"}),
     ["dev/high/5.txt", "'article'"]),
    ("[1, 2]", ["dev/high/5.txt", "JSON list"]),
])
def test_race_bad_passage(tmp_path, text, expect):
    d = small_race(tmp_path, [("dev", "high", "5.txt", text)])
    with pytest.raises(UserError) as err:
        race.load(d)
    msg = one_line(err)
    for part in expect:
        assert part.replace("/", os.sep) in msg, (part, msg)


def test_race_missing_folders(tmp_path):
    d = small_race(tmp_path)
    shutil.rmtree(tmp_path / "train")
    with pytest.raises(UserError) as err:
        race.load(d)
    msg = one_line(err)
    assert str(tmp_path / "train" / "middle") in msg
    assert "train/middle/ and train/high/" in msg and "--data_dir" in msg
    assert "http://www.cs.cmu.edu/~glai1/data/race/" in msg
    small_race(tmp_path)
    shutil.rmtree(tmp_path / "test" / "high")
    with pytest.raises(UserError) as err:
        race.load(d)
    msg = one_line(err)
    assert str(tmp_path / "test" / "high") in msg and "test/middle/ and test/high/" in msg
    small_race(tmp_path)
    os.remove(tmp_path / "dev" / "middle" / "7.txt")
    with pytest.raises(UserError) as err:
        race.load(d)
    assert str(tmp_path / "dev" / "middle") in one_line(err)


# -- the declarations ------------------------------------------------------------------

def test_declarations():
    for module, name, folder, n_out in ((snli, "snli", "snli_1.0", 3),
                                        (scitail, "scitail", os.path.join("SciTailV1.1", "tsv_format"), 2)):
        (task,) = module.TASKS
        assert get_task(name) is task
        assert (task.name, task.folder, task.n_seq, task.head, task.n_out) == (
            name, folder, 1, "linear", n_out)
        assert task.fields == ("premise", "hypothesis")
        assert [m.name for m in task.metrics] == ["acc"]
        assert task.submissions == () and task.analysis == ("test",) and task.groups == ()
        assert len(task.label_names) == n_out
    assert snli.TASKS[0].label_names == SNLI_LABELS
    assert scitail.TASKS[0].label_names == ("entails", "neutral")
    assert [m.TASKS[0].display for m in (snli, scitail, race)] == ["SNLI", "SciTail", "RACE"]
    assert snli.TASKS[0].paper == {"test acc": 89.9}
    assert scitail.TASKS[0].paper == {"test acc": 88.3}
    (task,) = race.TASKS
    assert get_task("race") is task
    assert (task.name, task.folder, task.n_seq, task.head, task.n_out) == (
        "race", "RACE", 4, "choice", 1)
    assert task.fields == ("article", "question", "option0", "option1", "option2", "option3")
    assert [m.name for m in task.metrics] == ["acc"]
    assert task.groups == ("middle", "high") and task.analysis == ("test",)
    assert task.submissions == ()
    assert task.paper == {"test acc": 59.0, "test middle acc": 62.9, "test high acc": 57.4}
    assert task.main_metric.fn([0, 1, 2, 3], [0, 1, 2, 0]) == 75.0


@pytest.mark.parametrize("module", [snli, scitail])
def test_entailment_transform(module):
    t = module.TASKS[0].transform
    ids = {"premise": [5, 6, 7, 8, 9], "hypothesis": [11, 12]}
    assert t(ids, SPECIALS, 512) == [[100, 5, 6, 7, 8, 9, 101, 11, 12, 102]]
    # 8 positions: 5 for the texts; the longer (premise) is cut at its end.
    assert t(ids, SPECIALS, 8) == [[100, 5, 6, 7, 101, 11, 12, 102]]
    assert ids == {"premise": [5, 6, 7, 8, 9], "hypothesis": [11, 12]}


def test_race_transform_and_truncation():
    t = race.TASKS[0].transform
    ids = {"article": list(range(10, 20)), "question": [20, 21],
           "option0": [30], "option1": [31, 32, 33], "option2": [34, 35], "option3": [36]}
    assert t(ids, SPECIALS, 512) == [
        [100] + list(range(10, 20)) + [20, 21, 101] + o + [102]
        for o in ([30], [31, 32, 33], [34, 35], [36])]
    # n_ctx 12: 12 - 3 specials - 2 question - 3 longest option = 4 article tokens,
    # the article cut at its end, the same cut for every option.
    out = t(ids, SPECIALS, 12)
    assert out == [[100, 10, 11, 12, 13, 20, 21, 101, 30, 102],
                   [100, 10, 11, 12, 13, 20, 21, 101, 31, 32, 33, 102],
                   [100, 10, 11, 12, 13, 20, 21, 101, 34, 35, 102],
                   [100, 10, 11, 12, 13, 20, 21, 101, 36, 102]]
    assert max(len(s) for s in out) == 12
    # n_ctx 8: no room for the article; question and options kept whole.
    assert t(ids, SPECIALS, 8)[1] == [100, 20, 21, 101, 31, 32, 33, 102]


def test_race_transform_on_a_real_example(race_splits):
    """Word ids stand in for BPE: the article is cut, the question and options never."""
    va = race_splits["valid"]
    i = 0
    vocab = {}

    def enc(text):
        return [vocab.setdefault(w, 1000 + len(vocab)) for w in text.split()]

    ids = {k: enc(v[i]) for k, v in va.texts.items()}
    out = race.TASKS[0].transform(ids, SPECIALS, 64)
    longest = max(len(ids["option%d" % k]) for k in range(4))
    n_article = 64 - 3 - len(ids["question"]) - longest
    assert len(ids["article"]) > n_article
    for k, seq in enumerate(out):
        assert seq == ([100] + ids["article"][:n_article] + ids["question"] + [101]
                       + ids["option%d" % k] + [102])
        assert len(seq) <= 64
    assert max(len(s) for s in out) == 64
