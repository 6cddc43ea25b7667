"""Tests for finetune_lm.data.text: a tiny inline vocabulary, then the real GPT-1 files."""

import json
import os

import pytest

from finetune_lm.util.errors import UserError
from finetune_lm.data.text import TextEncoder, add_special_tokens, get_pairs, text_standardize

# Ranks are line order: "o w" outranks "l o", so "lower" must become "low er</w>"
# via "l ow", never via "lo w".
MERGES = ["e r</w>", "o w", "l o", "l ow", "a a", "aa aa",
          "d o</w>", "n '", "n' t</w>", "c a", "ca f", "caf é</w>"]
VOCAB = ["<unk>", "low", "er</w>", "l", "o</w>", "lo", "w</w>", "aa", "a</w>",
         "aaaa", "a", ".</w>", "\n</w>", "do</w>", "n't</w>", "café</w>", "x</w>", "!</w>"]


def write_files(tmp_path, vocab=VOCAB, merges=MERGES):
    enc = tmp_path / "encoder.json"
    bpe = tmp_path / "vocab.bpe"
    enc.write_text(json.dumps({piece: i for i, piece in enumerate(vocab)}), encoding="utf-8")
    bpe.write_text("#version: 0.2\n" + "".join(m + "\n" for m in merges), encoding="utf-8")
    return str(enc), str(bpe)


@pytest.fixture
def enc(tmp_path):
    return TextEncoder(*write_files(tmp_path))


# -- text_standardize ---------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("a—b", "a - b"),
    ("a–b", "a - b"),
    ("a―b", "a - b"),
    ("wait…", "wait..."),
    ("don´t", "don't"),
    ("a.b:c'd", "a.b:c'd"),           # . : ' are left alone
    ("a!?b", "a ! ? b"),               # each run is spaced on its own
    ("a--b", "a -- b"),                # a run stays together
    ("a \n\n  b", "a \n b"),
    ("a\r\n\tb", "a \n b"),
    ("a\t\t b  c", "a b c"),
    ("  a  ", "a"),
    ("\n a \n", "a"),
])
def test_text_standardize(raw, expected):
    assert text_standardize(raw) == expected


@pytest.mark.parametrize("c", list('-~!";?+,)(\\/*[]}{|_'))
def test_text_standardize_spaces_punctuation_runs(c):
    assert text_standardize("a%sb" % c) == "a %s b" % c
    assert text_standardize("a%s%s%sb" % (c, c, c)) == "a %s b" % (c * 3)


# -- get_pairs / bpe ----------------------------------------------------------

def test_get_pairs():
    assert get_pairs(("a", "b", "c")) == {("a", "b"), ("b", "c")}
    assert get_pairs(("a", "a", "a")) == {("a", "a")}
    assert get_pairs(("a",)) == set()


def test_bpe_ranks_from_line_order(enc):
    assert enc.bpe_ranks[("e", "r</w>")] == 0
    assert enc.bpe_ranks[("aa", "aa")] == 5
    assert enc.bpe_ranks[("caf", "é</w>")] == len(MERGES) - 1


def test_bpe_follows_rank_order(enc):
    assert enc.bpe("lower") == "low er</w>"
    # "o w" is a merge but "o w</w>" is not: '</w>' makes the final symbol distinct.
    assert enc.bpe("low") == "lo w</w>"
    assert enc.bpe("lo") == "l o</w>"


def test_bpe_merges_repeats_left_to_right_without_overlap(enc):
    assert enc.bpe("aaa") == "aa a</w>"
    assert enc.bpe("aaaa") == "aa a a</w>"
    assert enc.bpe("aaaaa") == "aaaa a</w>"


def test_bpe_single_character(enc):
    assert enc.bpe("x") == "x</w>"
    assert enc.bpe("z") == "z</w>"


def test_bpe_newline_token(enc):
    assert enc.bpe("\n ") == "\n</w>"


def test_bpe_caches(enc):
    assert enc.bpe("lower") is enc.bpe("lower")
    assert enc.cache["lower"] == "low er</w>"


# -- encode -------------------------------------------------------------------

def test_encode_exact_ids(enc):
    assert enc.encode(["lower low.", "aaaaa!"]) == [[1, 2, 5, 6, 11], [9, 8, 17]]


def test_encode_lower_cases(enc):
    assert enc.encode(["LoWeR"]) == enc.encode(["lower"]) == [[1, 2]]


def test_encode_unknown_pieces_are_zero(enc):
    assert enc.encode(["zzz lower"]) == [[0, 0, 0, 1, 2]]


def test_encode_newline(enc):
    assert enc.encode(["x\n\n x"]) == [[16, 12, 16]]


def test_encode_fixes_mojibake_before_tokenising(enc):
    # Unfixed, spaCy would split 'cafÃ©' into 'cafÃ' and '©'.
    assert enc.encode(["cafÃ©"]) == [[15]]


def test_encode_spacy_splits_contractions(enc):
    assert enc.encode(["Don't!"]) == [[13, 14, 17]]


def test_encode_empty(enc):
    assert enc.encode([]) == []
    assert enc.encode(["", "  \n "]) == [[], []]


def test_encode_rejects_a_bare_string(enc):
    with pytest.raises(TypeError):
        enc.encode("lower")


def test_encode_verbose_writes_only_to_stderr(enc, capsys):
    assert enc.encode(["lower"] * 3, verbose=True) == [[1, 2]] * 3
    assert capsys.readouterr().out == ""


def test_add_special_tokens():
    encoder = {"a": 0, "b": 1}
    assert add_special_tokens(encoder) == (2, 3, 4)
    assert encoder == {"a": 0, "b": 1, "_start_": 2, "_delimiter_": 3, "_classify_": 4}


# -- bad files ----------------------------------------------------------------

def test_missing_encoder_file(tmp_path):
    _, bpe = write_files(tmp_path)
    missing = str(tmp_path / "encoder_bpe_40000.json")
    with pytest.raises(UserError, match="python -m finetune_lm.download") as e:
        TextEncoder(missing, bpe)
    assert missing in str(e.value) and "\n" not in str(e.value)


def test_missing_bpe_file(tmp_path):
    enc, _ = write_files(tmp_path)
    missing = str(tmp_path / "vocab_40000.bpe")
    with pytest.raises(UserError, match="python -m finetune_lm.download") as e:
        TextEncoder(enc, missing)
    assert missing in str(e.value)


@pytest.mark.parametrize("content", ['["a", "b"]', '{"a": "0"}', '{"a": 1.5}', '{"a": true}'])
def test_encoder_not_a_str_to_int_object(tmp_path, content):
    enc, bpe = write_files(tmp_path)
    with open(enc, "w") as f:
        f.write(content)
    with pytest.raises(UserError, match="JSON object mapping str to int") as e:
        TextEncoder(enc, bpe)
    assert enc in str(e.value)


def test_encoder_not_json(tmp_path):
    enc, bpe = write_files(tmp_path)
    with open(enc, "w") as f:
        f.write("{not json")
    with pytest.raises(UserError, match="not valid JSON") as e:
        TextEncoder(enc, bpe)
    assert enc in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("bad, lineno", [("a b c", 3), ("ab", 3), ("", 3)])
def test_bad_merges_line(tmp_path, bad, lineno):
    # The header is line 1, so the second merge sits on line 3.
    enc, bpe = write_files(tmp_path, merges=["e r</w>", bad, "l o"])
    with pytest.raises(UserError, match="line %d: expected two symbols" % lineno) as e:
        TextEncoder(enc, bpe)
    assert bpe in str(e.value)


# -- the released GPT-1 vocabulary ----------------------------------------------

@pytest.fixture(scope="module")
def gpt1(gpt1_dir):
    return TextEncoder(os.path.join(gpt1_dir, "encoder_bpe_40000.json"),
                       os.path.join(gpt1_dir, "vocab_40000.bpe"))


REAL_CASES = [
    ("The quick brown fox jumps over the lazy dog.",
     [481, 2279, 2507, 8573, 11670, 715, 481, 8447, 2585, 239],
     ["the</w>", "quick</w>", "brown</w>", "fox</w>", "jumps</w>", "over</w>", "the</w>",
      "lazy</w>", "dog</w>", ".</w>"]),
    ("Karen didn't like it -- she left!",
     [6745, 626, 538, 649, 507, 2383, 520, 999, 267],
     ["karen</w>", "did</w>", "n't</w>", "like</w>", "it</w>", "--</w>", "she</w>",
      "left</w>", "!</w>"]),
    ("Line one\nline two…",
     [1584, 566, 40477, 1584, 867, 749],
     ["line</w>", "one</w>", "\n</w>", "line</w>", "two</w>", "...</w>"]),
    ("Tokenizers split GPT-1 finetuning into pieces (roughly).",
     [571, 2987, 4712, 650, 4620, 30, 1992, 260, 277, 894, 5, 22735, 666, 3585, 276,
      7606, 275, 239],
     ["to", "ken", "iz", "ers</w>", "split</w>", "g", "pt</w>", "-</w>", "1</w>", "fin",
      "e", "tuning</w>", "into</w>", "pieces</w>", "(</w>", "roughly</w>", ")</w>", ".</w>"]),
    ('Xyzzq said "hi";  ok?!',
     [26702, 1648, 273, 603, 244, 3569, 244, 270, 773, 257, 267],
     ["xy", "zz", "q</w>", "said</w>", '"</w>', "hi</w>", '"</w>', ";</w>", "ok</w>",
      "?</w>", "!</w>"]),
    ("naïve café, cafÃ© ☃", [24213, 13550, 240, 13550, 0],
     ["naïve</w>", "café</w>", ",</w>", "café</w>", "<unk>"]),
]


def test_real_vocabulary_size(gpt1):
    assert len(gpt1.encoder) == 40478
    assert len(gpt1.bpe_ranks) == 40000
    assert gpt1.decoder[0] == "<unk>"


@pytest.mark.parametrize("text, ids, pieces", REAL_CASES, ids=lambda x: None)
def test_real_encode(gpt1, text, ids, pieces):
    assert gpt1.encode([text]) == [ids]
    assert [gpt1.decoder[i] for i in ids] == pieces


@pytest.mark.parametrize("word", ["tokenizers", "finetuning", "xyzzq", "gpt", "unbelievably"])
def test_real_bpe_is_a_fixed_point(gpt1, word):
    # The pieces spell the word and no adjacent pair is a known merge, so BPE stopped
    # only when it had nothing left to merge.
    pieces = gpt1.bpe(word).split(" ")
    assert "".join(pieces) == word + "</w>"
    assert not any(pair in gpt1.bpe_ranks for pair in zip(pieces, pieces[1:]))


def test_real_add_special_tokens(gpt1):
    encoder = dict(gpt1.encoder)
    assert add_special_tokens(encoder) == (40478, 40479, 40480)
    assert len(encoder) == 40481
