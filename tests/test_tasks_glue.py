"""finetune_lm.tasks.glue: the eight GLUE loaders on the real files (under
$FINETUNE_LM_DATA/glue, laid out as GLUE's download does; see shared/data/TASKS.md),
on files built in the official layouts where the real ones are missing (QNLI train,
MNLI, QQP), their errors, STS-B's soft targets and every declaration's transform."""

import csv
import os
import shutil

import numpy as np
import pytest

from helpers import MNLI_DEV_HEADER, data_dir, glue_dir, mnli_folder, raw_rows, write
from finetune_lm.util.errors import UserError
from finetune_lm.tasks import get_task, glue

TASKS = {t.name: t for t in glue.TASKS}
SPECIALS = (100, 101, 102)



def one_line(err):
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg




def check_split(split, n, path, labels=None, index=None):
    assert len(split) == n
    assert split.source == path
    for values in split.texts.values():
        assert len(values) == n and all(isinstance(v, str) for v in values)
    if labels is None:
        assert split.labels is None
    else:
        assert split.labels.shape == (n,)
        if isinstance(labels, str):
            assert split.labels.dtype == np.dtype(labels)
        else:
            assert split.labels.dtype == np.int64
            assert set(split.labels.tolist()) == set(labels)
    if index == "range":
        assert split.index == list(range(n))
    elif index == "str":
        assert split.index == [str(i) for i in range(n)]


# --- the real files -------------------------------------------------------------

def test_cola():
    d = glue_dir("CoLA")
    s = TASKS["cola"].load(d)
    assert set(s) == {"train", "valid", "test"}
    check_split(s["train"], 8551, os.path.join(d, "train.tsv"), labels={0, 1}, index="range")
    check_split(s["valid"], 1043, os.path.join(d, "dev.tsv"), labels={0, 1}, index="range")
    check_split(s["test"], 1063, os.path.join(d, "test.tsv"), index="str")
    tr, va, te = s["train"], s["valid"], s["test"]
    assert tr.texts["sentence"][0] == ("Our friends won't buy this analysis, let alone the next "
                                       "one we propose.")
    assert tr.texts["sentence"][-1] == "What all did you get for Christmas?"
    assert (tr.labels[0], tr.labels[-1]) == (1, 1)
    assert int(tr.labels.sum()) == 6023
    assert va.texts["sentence"][0] == "The sailors rode the breeze clear of the rocks."
    # dev.tsv has no final newline: its last line is still an example.
    assert va.texts["sentence"][-1] == "John talked to Bill about himself."
    assert int(va.labels.sum()) == 721
    assert te.texts["sentence"][0] == "Bill whistled past the house."
    assert te.texts["sentence"][-1] == "A picture of himself frightened John."
    assert te.index[-1] == "1062"


def test_sst2():
    d = glue_dir("SST-2")
    s = TASKS["sst2"].load(d)
    check_split(s["train"], 67349, os.path.join(d, "train.tsv"), labels={0, 1}, index="range")
    check_split(s["valid"], 872, os.path.join(d, "dev.tsv"), labels={0, 1}, index="range")
    check_split(s["test"], 1821, os.path.join(d, "test.tsv"), index="str")
    tr, va, te = s["train"], s["valid"], s["test"]
    # The train/dev sentences' trailing space (before the tab) is stripped.
    assert tr.texts["sentence"][0] == "hide new secretions from the parental units"
    assert tr.texts["sentence"][-1] == ("this new jangle of noise , mayhem and stupidity must be a "
                                        "serious contender for the title .")
    assert (tr.labels[0], tr.labels[-1]) == (0, 0)
    assert int(tr.labels.sum()) == 37569
    assert va.texts["sentence"][0] == "it 's a charming and often affecting journey ."
    assert va.texts["sentence"][-1] == (
        "looking aristocratic , luminous yet careworn in jane hamilton 's exemplary costumes , "
        "rampling gives a performance that could not be improved upon . '")
    assert (va.labels[0], va.labels[-1]) == (1, 1)
    assert te.texts["sentence"][0] == "uneasy mishmash of styles and genres ."
    assert te.texts["sentence"][-1].startswith("dazzling and sugar-sweet , a blast")
    assert te.index[-1] == "1820"
    assert not any(t != t.strip() for t in tr.texts["sentence"] + te.texts["sentence"])


def test_mrpc():
    d = glue_dir("MRPC")
    with open(os.path.join(d, "train.tsv"), encoding="utf-8") as f:
        assert f.readline().startswith("\ufeffQuality\t")  # the BOM the loader must see past
    s = TASKS["mrpc"].load(d)
    check_split(s["train"], 3668, os.path.join(d, "train.tsv"), labels={0, 1}, index="range")
    check_split(s["valid"], 408, os.path.join(d, "dev.tsv"), labels={0, 1}, index="range")
    check_split(s["test"], 1725, os.path.join(d, "test.tsv"), index="str")
    tr, va, te = s["train"], s["valid"], s["test"]
    a, b = tr.texts["sentence1"], tr.texts["sentence2"]
    assert a[0] == ('Amrozi accused his brother , whom he called " the witness " , of '
                    'deliberately distorting his evidence .')
    assert b[0] == ('Referring to him as only " the witness " , Amrozi accused his brother of '
                    'deliberately distorting his evidence .')
    assert b[-1] == ("The 30-year bond US30YT = RR grew 1-3 / 32 for a yield of 4.30 percent , "
                     "down from 4.35 percent late Wednesday .")
    assert (tr.labels[0], tr.labels[-1]) == (1, 0)
    assert int(tr.labels.sum()) == 2474 and int(va.labels.sum()) == 279
    assert va.texts["sentence2"][0] == ('" The foodservice pie business does not fit our '
                                        'long-term growth strategy .')
    assert va.texts["sentence1"][-1] == ("Ex-KGB agent Putin added that the Beatles were "
                                         "considered ' propaganda of an alien ideology ' .")
    assert te.texts["sentence2"][0] == ("Current Chief Operating Officer Mike Butcher and Group "
                                        "Chief Financial Officer Alex Arena will report to So .")
    assert te.texts["sentence1"][-1].startswith("Sobig.F spreads when")
    assert te.index[-1] == "1724"
    assert not any("\ufeff" in t for t in tr.texts["sentence1"])


def test_stsb():
    d = glue_dir("STS-B")
    s = TASKS["stsb"].load(d)
    check_split(s["train"], 5749, os.path.join(d, "train.tsv"), labels="float32", index="str")
    check_split(s["valid"], 1500, os.path.join(d, "dev.tsv"), labels="float32", index="str")
    check_split(s["test"], 1379, os.path.join(d, "test.tsv"), index="str")
    tr, va, te = s["train"], s["valid"], s["test"]
    assert (tr.texts["sentence1"][0], tr.texts["sentence2"][0]) == (
        "A plane is taking off.", "An air plane is taking off.")
    assert (tr.texts["sentence1"][-1], tr.texts["sentence2"][-1]) == (
        "Putin spokesman: Doping charges appear unfounded",
        "The Latest on Severe Weather: 1 Dead in Texas After Tornado")
    assert (tr.labels[0], tr.labels[-1]) == (5.0, 0.0)  # "5.000" and "0"
    assert tr.labels[2049] == np.float32(2.11111111111111)
    assert tr.labels.min() == 0.0 and tr.labels.max() == 5.0
    # Default csv quoting merges rows from a field starting with '"' to the next one.
    with open(os.path.join(d, "train.tsv"), encoding="utf-8", newline="") as f:
        assert sum(1 for _ in csv.reader(f, delimiter="\t")) == 5712
    assert tr.texts["sentence1"][2001] == '"Then the captain was gone.'
    assert tr.texts["sentence2"][2001] == "Then the captain came back."
    assert tr.labels[2001] == np.float32(0.8)
    assert (va.texts["sentence1"][0], va.labels[0]) == ("A man with a hard hat is dancing.", 5.0)
    assert va.texts["sentence2"][-1] == ("New York police officer critically wounded in "
                                         "hatchet attack")
    assert (te.texts["sentence1"][0], te.texts["sentence2"][0]) == (
        "A girl is styling her hair.", "A girl is brushing her hair.")
    assert te.texts["sentence2"][-1] == "North Korea Delegation Meets With South Korean Officials"
    assert te.index[-1] == "1378"


def qnli_folder(tmp_path, sub):
    """The real dev/test files, and the real dev.tsv as train.tsv (the train files are
    missing here)."""
    src = glue_dir(sub)
    d = tmp_path / "QNLI"
    d.mkdir()
    for name in ("dev.tsv", "test.tsv"):
        shutil.copy(os.path.join(src, name), d / name)
    shutil.copy(os.path.join(src, "dev.tsv"), d / "train.tsv")
    return str(d)


@pytest.mark.parametrize("sub,n_valid,n_test,feff_row", [
    ("QNLI", 5463, 5463, 60),      # v2 (GLUE since 2019)
    ("QNLI/v1", 5732, 5740, 5104),  # v1 (2018, the paper's)
])
def test_qnli(tmp_path, sub, n_valid, n_test, feff_row):
    d = qnli_folder(tmp_path, sub)
    s = TASKS["qnli"].load(d)
    assert set(s) == {"train", "valid", "test"}
    check_split(s["train"], n_valid, os.path.join(d, "train.tsv"), labels={0, 1}, index="str")
    check_split(s["valid"], n_valid, os.path.join(d, "dev.tsv"), labels={0, 1}, index="str")
    check_split(s["test"], n_test, os.path.join(d, "test.tsv"), index="str")
    va, te = s["valid"], s["test"]
    assert va.texts == s["train"].texts
    # U+FEFF inside a sentence is text, kept as written (three of them in one sentence).
    assert va.texts["sentence"][feff_row].count("\ufeff") == 3
    assert sum(t.count("\ufeff") for t in va.texts["sentence"]) == 3
    assert TASKS["qnli"].label_names == ("entailment", "not_entailment")
    if sub == "QNLI":
        assert va.texts["question"][0] == ("What came into force after the new constitution "
                                           "was herald?")
        assert va.texts["sentence"][0] == ("As of that day, the new constitution heralding the "
                                           "Second Republic came into force.")
        assert va.texts["question"][-1] == "Who discovered this and where did they come from?"
        assert (va.labels[0], va.labels[-1]) == (0, 1)
        assert int(va.labels.sum()) == 2761
        assert te.texts["question"][0] == "What organization is devoted to Jihad against Israel?"
        assert te.texts["question"][-1] == "Who fought in the great Northern war?"
        assert te.texts["sentence"][-1].startswith("In 1709\u201313, a plague epidemic")
    else:
        assert va.texts["question"][0] == "Which NFL team represented the AFC at Super Bowl 50?"
        assert va.texts["question"][-1] == "What is the kilogram-force sometimes reffered to as?"
        assert (va.labels[0], va.labels[-1]) == (0, 1)
        assert int(va.labels.sum()) == 2866
        assert te.texts["sentence"][0] == ("Other arcane units of force include the sth\u00e8ne, "
                                           "which is equivalent to 1000 N, and the kip, which is "
                                           "equivalent to 1000 lbf.")
        assert te.texts["question"][-1] == "When did the Venetians take total control of Cyprus?"
    assert te.index[-1] == str(n_test - 1)


def test_rte():
    d = glue_dir("RTE")
    s = TASKS["rte"].load(d)
    check_split(s["train"], 2490, os.path.join(d, "train.tsv"), labels={0, 1}, index="str")
    check_split(s["valid"], 277, os.path.join(d, "dev.tsv"), labels={0, 1}, index="str")
    check_split(s["test"], 3000, os.path.join(d, "test.tsv"), index="str")
    tr, va, te = s["train"], s["valid"], s["test"]
    assert (tr.texts["sentence1"][0], tr.texts["sentence2"][0]) == (
        "No Weapons of Mass Destruction Found in Iraq Yet.",
        "Weapons of Mass Destruction Found in Iraq.")
    assert tr.texts["sentence2"][-1] == "U.S. to use Turkish military bases."
    assert (tr.labels[0], tr.labels[-1]) == (1, 1)  # not_entailment
    assert int(tr.labels.sum()) == 1241
    assert va.texts["sentence2"][0] == "Christopher Reeve had an accident."
    s1 = va.texts["sentence1"][-1]  # 561 characters, with quotes inside
    assert s1.startswith("Danny Kennedy, Greenpeace campaigns director, said: \"The burden")
    assert s1.endswith('because [it] opposes his political opinions."') and len(s1) == 561
    assert va.texts["sentence2"][-1] == "Greenpeace director said that peace is terrorism."
    assert (va.labels[0], va.labels[-1]) == (1, 1)
    assert int(va.labels.sum()) == 131
    assert te.texts["sentence2"][0] == "Shukla is related to Mangla."
    assert te.texts["sentence1"][-1].startswith("A Helios airliner (Boeing 737, flight HCY 522)")
    assert len(te.texts["sentence1"][-1]) == 1075
    assert te.texts["sentence2"][-1] == "26 people died in an airplane crash."
    assert te.index[-1] == "2999"


# --- MNLI and QQP, from the samples in the official layouts ----------------------

def test_mnli(tmp_path, capsys):
    d, train, dev, ragged = mnli_folder(tmp_path)
    s = TASKS["mnli"].load(d)
    assert set(s) == {"train", "valid", "valid_mm", "test", "test_mm", "ax"}
    assert capsys.readouterr().err == ""
    names = ("entailment", "neutral", "contradiction")
    check_split(s["train"], 49, os.path.join(d, "train.tsv"), labels={0, 1, 2})
    check_split(s["valid"], 24, os.path.join(d, "dev_matched.tsv"), labels={0, 1, 2})
    check_split(s["valid_mm"], 24, os.path.join(d, "dev_mismatched.tsv"), labels={0, 1, 2})
    check_split(s["test"], 5, os.path.join(d, "test_matched.tsv"))
    check_split(s["test_mm"], 3, os.path.join(d, "test_mismatched.tsv"))
    tr = s["train"]
    assert tr.texts["premise"][0] == "That's all right."
    assert tr.texts["hypothesis"][0] == "That's fine."
    assert tr.labels[0] == 0
    assert tr.texts["premise"][47].startswith("Inevitably, some people will get burned")
    assert tr.labels[47] == 2  # contradiction
    assert tr.index[0] == "155219" and tr.index[47] == "86941"
    # The ragged row: premise/hypothesis by header position, label from the last field.
    assert tr.texts["premise"][-1] == ragged[8].strip()
    assert tr.labels[-1] == names.index(ragged[-1]) != names.index(ragged[10])
    # Surrounding spaces are stripped (train sample line 6 ends its hypothesis in one).
    assert train[5][9].endswith(" ")
    assert tr.texts["hypothesis"][4] == train[5][9].strip()
    va = s["valid"]
    assert va.texts["premise"] == [f[8].strip() for f in dev[1::2]]
    assert va.texts["hypothesis"] == [f[9].strip() for f in dev[1::2]]
    assert va.labels.tolist() == [names.index(f[-1]) for f in dev[1::2]]
    assert va.index == [f[0] for f in dev[1::2]]
    assert s["valid_mm"].labels.tolist() == [names.index(f[-1]) for f in dev[2::2]]
    assert s["test"].index == [f[0] for f in dev[1:6]]
    assert s["test_mm"].texts["hypothesis"] == [f[9].strip() for f in dev[6:9]]
    ax = s["ax"]
    check_split(ax, 1104, os.path.join(os.path.dirname(d), "diagnostic", "diagnostic.tsv"),
                index="str")
    assert (ax.texts["premise"][0], ax.texts["hypothesis"][0]) == (
        "The cat sat on the mat.", "The cat did not sit on the mat.")
    # diagnostic.tsv has no final newline.
    assert ax.texts["hypothesis"][-1] == ("A general artificial intelligence should always come "
                                          "with an off switch.")


def test_mnli_diagnostic_inside_or_absent(tmp_path, capsys):
    d, *_ = mnli_folder(tmp_path / "a", diagnostic="inside")
    s = TASKS["mnli"].load(d)
    assert s["ax"].source == os.path.join(d, "diagnostic.tsv") and len(s["ax"]) == 1104
    assert capsys.readouterr().err == ""
    d, *_ = mnli_folder(tmp_path / "b", diagnostic=None)
    s = TASKS["mnli"].load(d)
    assert "ax" not in s and len(s) == 5
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "AX.tsv will not be written" in err
    assert os.path.join(d, "diagnostic.tsv") in err
    assert os.path.join(str(tmp_path / "b"), "glue", "diagnostic", "diagnostic.tsv") in err


def test_qqp(tmp_path):
    samples = os.path.join(glue_dir("QQP"), "glue_format_samples")
    d = tmp_path / "QQP"
    d.mkdir()
    shutil.copy(os.path.join(samples, "lmbff_16-42_train.tsv"), d / "train.tsv")
    shutil.copy(os.path.join(samples, "dev_head10.tsv"), d / "dev.tsv")
    rows = raw_rows(os.path.join(samples, "lmbff_16-42_dev.tsv"))
    write(d / "test.tsv",
          ["id\tquestion1\tquestion2"] + ["\t".join((f[0], f[3], f[4])) for f in rows[1:]])
    s = TASKS["qqp"].load(str(d))
    check_split(s["train"], 32, str(d / "train.tsv"), labels={0, 1})
    check_split(s["valid"], 9, str(d / "dev.tsv"), labels={0, 1})
    check_split(s["test"], 32, str(d / "test.tsv"))
    tr = s["train"]
    assert tr.texts["question1"][0] == "Why do some people think that having a baby is a blessing?"
    assert tr.texts["question2"][0] == "Why is having a baby a blessing?"
    assert tr.texts["question2"][-1] == "Which are the good SIP plans to invest in?"
    assert (tr.labels[0], tr.labels[-1]) == (1, 0)
    assert (tr.index[0], tr.index[-1]) == ("328831", "152187")
    te = s["test"]
    assert te.index == [f[0] for f in rows[1:]]
    assert te.texts["question1"] == [f[3] for f in rows[1:]]


# --- errors ---------------------------------------------------------------------

STSB_HEADER = ("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"
               "\tscore")
MRPC_HEADER = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String"
QQP_HEADER = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"
MNLI_TRAIN = "\t".join(MNLI_DEV_HEADER[:10] + ["label1", "gold_label"])
MNLI_ROW = "0\t1\t1e\tfiction\t( a )\t( b )\t(ROOT a)\t(ROOT b)\tA .\tB ."

# task -> {file: lines}: the smallest valid folder of each task.
MINI = {
    "cola": {"train.tsv": ["gj04\t1\t\tA good one."], "dev.tsv": ["gj04\t0\t*\tOne bad."],
             "test.tsv": ["index\tsentence", "0\tA test one."]},
    "sst2": {"train.tsv": ["sentence\tlabel", "a fine film . \t1"],
             "dev.tsv": ["sentence\tlabel", "a bad film . \t0"],
             "test.tsv": ["index\tsentence", "0\ta film ."]},
    "mrpc": {"train.tsv": [MRPC_HEADER, "1\t1\t2\tA .\tB ."],
             "dev.tsv": [MRPC_HEADER, "0\t3\t4\tC .\tD ."],
             "test.tsv": ["index\t#1 ID\t#2 ID\t#1 String\t#2 String", "0\t5\t6\tE .\tF ."]},
    "stsb": {"train.tsv": [STSB_HEADER, "0\tg\tf\t2012\t0001\tnone\tnone\tA.\tB.\t3.800"],
             "dev.tsv": [STSB_HEADER, "0\tg\tf\t2012\t0001\tnone\tnone\tA.\tB.\t0"],
             "test.tsv": [STSB_HEADER.rsplit("\t", 1)[0],
                          "0\tg\tf\t2012\t0001\tnone\tnone\tA.\tB."]},
    "qqp": {"train.tsv": [QQP_HEADER, "7\t1\t2\tA?\tB?\t1"],
            "dev.tsv": [QQP_HEADER, "8\t3\t4\tC?\tD?\t0"],
            "test.tsv": ["id\tquestion1\tquestion2", "0\tE?\tF?"]},
    "mnli": {"train.tsv": [MNLI_TRAIN, MNLI_ROW + "\tneutral\tneutral"],
             "dev_matched.tsv": ["\t".join(MNLI_DEV_HEADER), MNLI_ROW + "\tneutral" * 6],
             "dev_mismatched.tsv": ["\t".join(MNLI_DEV_HEADER), MNLI_ROW + "\tentailment" * 6],
             "test_matched.tsv": ["\t".join(MNLI_DEV_HEADER[:10]), MNLI_ROW],
             "test_mismatched.tsv": ["\t".join(MNLI_DEV_HEADER[:10]), MNLI_ROW],
             "diagnostic.tsv": ["index\tsentence1\tsentence2", "0\tA .\tB ."]},
    "qnli": {"train.tsv": ["index\tquestion\tsentence\tlabel", "0\tQ?\tS.\tentailment"],
             "dev.tsv": ["index\tquestion\tsentence\tlabel", "0\tQ?\tS.\tnot_entailment"],
             "test.tsv": ["index\tquestion\tsentence", "0\tQ?\tS."]},
    "rte": {"train.tsv": ["index\tsentence1\tsentence2\tlabel", "0\tA.\tB.\tentailment"],
            "dev.tsv": ["index\tsentence1\tsentence2\tlabel", "0\tA.\tB.\tnot_entailment"],
            "test.tsv": ["index\tsentence1\tsentence2", "0\tA.\tB."]},
}


def mini_folder(tmp_path, task):
    d = tmp_path / task
    d.mkdir()
    for name, lines in MINI[task].items():
        write(d / name, lines)
    return str(d)


@pytest.mark.parametrize("task", sorted(MINI))
def test_mini_folders_load(tmp_path, task):
    s = TASKS[task].load(mini_folder(tmp_path, task))
    assert all(len(split) == 1 for split in s.values())
    assert set(s) >= {"train", "valid", "test"}
    if task == "stsb":
        assert s["train"].labels.tolist() == [np.float32(3.8)]
        assert s["valid"].labels.tolist() == [0.0]


BAD = [  # task, file, appended line, what the message says
    ("cola", "train.tsv", "gj04\t1\tNo sentence column.", "3 fields, expected at least 4"),
    ("cola", "dev.tsv", "gj04\tyes\t\tA sentence.", "label 'yes', expected one of 0, 1"),
    ("cola", "test.tsv", "1", "1 fields, expected at least 2"),
    ("sst2", "train.tsv", "a film . \t2", "label '2', expected one of 0, 1"),
    ("sst2", "dev.tsv", "no label at all", "1 fields, expected at least 2"),
    ("mrpc", "train.tsv", "2\t1\t2\tA .\tB .", "label '2', expected one of 0, 1"),
    ("mrpc", "test.tsv", "1\t5\t6\tE .", "4 fields, expected at least 5"),
    ("stsb", "train.tsv", "1\tg\tf\t2012\t2\tnone\tnone\tA.\tB.\thigh",
     "score 'high', expected a number from 0 to 5"),
    ("stsb", "train.tsv", "1\tg\tf\t2012\t2\tnone\tnone\tA.\tB.\t5.5", "score '5.5', expected"),
    ("stsb", "dev.tsv", "1\tg\tf\t2012\t2\tnone\tnone\tA.\tB.\t-0.1", "score '-0.1', expected"),
    ("stsb", "dev.tsv", "1\tg\tf\t2012\t2\tnone\tnone\tA.\tB.\tnan", "score 'nan', expected"),
    ("stsb", "dev.tsv", "1\tg\tf\t2012\t2\tnone\tnone\tA.\tB.\t", "score '', expected"),
    ("stsb", "test.tsv", "1\tg\tf\t2012\t2\tnone\tnone\tA.", "8 fields, expected at least 9"),
    ("qqp", "train.tsv", "9\t5\t6\tG?\tH?\tyes", "label 'yes', expected one of 0, 1"),
    ("qqp", "test.tsv", "1\tOnly one?", "2 fields, expected at least 3"),
    ("mnli", "train.tsv", MNLI_ROW + "\tneutral\tmaybe",
     "label 'maybe', expected one of entailment, neutral, contradiction"),
    ("mnli", "dev_matched.tsv", MNLI_ROW, "10 fields, expected at least 11"),
    ("mnli", "test_mismatched.tsv", MNLI_ROW.rsplit("\t", 1)[0], "9 fields, expected at least 10"),
    ("mnli", "diagnostic.tsv", "1\tA .", "2 fields, expected at least 3"),
    ("qnli", "dev.tsv", "1\tQ?\tS.\tentails",
     "label 'entails', expected one of entailment, not_entailment"),
    ("rte", "train.tsv", "1\tA.\tB.\tneutral",
     "label 'neutral', expected one of entailment, not_entailment"),
    ("rte", "test.tsv", "1\tA.", "2 fields, expected at least 3"),
]


@pytest.mark.parametrize("task,name,line,says", BAD)
def test_bad_row_names_file_and_line(tmp_path, task, name, line, says):
    d = mini_folder(tmp_path, task)
    lines = MINI[task][name] + [line]
    # CoLA dev.tsv is written without its final newline, as the real one.
    write(os.path.join(d, name), lines, final_newline=(task, name) != ("cola", "dev.tsv"))
    with pytest.raises(UserError) as err:
        TASKS[task].load(d)
    msg = one_line(err)
    assert msg.startswith("%s, line %d: " % (os.path.join(d, name), len(lines))), msg
    assert says in msg, msg


@pytest.mark.parametrize("task,name", [(t, n) for t in sorted(MINI) for n in MINI[t]
                                       if n != "diagnostic.tsv"])
def test_missing_split_file(tmp_path, task, name):
    d = mini_folder(tmp_path, task)
    os.remove(os.path.join(d, name))
    with pytest.raises(UserError) as err:
        TASKS[task].load(d)
    msg = one_line(err)
    assert os.path.join(d, name) in msg and repr(name) in msg and "--data_dir" in msg
    assert "https://gluebenchmark.com/tasks" in msg and TASKS[task].folder in msg


def test_header_without_the_column(tmp_path):
    d = mini_folder(tmp_path, "rte")
    write(os.path.join(d, "dev.tsv"),
          ["index\tpremise\thypothesis\tlabel", "0\tA.\tB.\tentailment"])
    with pytest.raises(UserError) as err:
        TASKS["rte"].load(d)
    msg = one_line(err)
    assert msg.startswith(os.path.join(d, "dev.tsv") + ", line 1: ") and "'sentence1'" in msg
    # MNLI's label is the last field, but the header must name gold_label.
    d = mini_folder(tmp_path, "mnli")
    write(os.path.join(d, "train.tsv"), [MNLI_TRAIN.replace("gold_label", "label"),
                                         MNLI_ROW + "\tneutral\tneutral"])
    with pytest.raises(UserError) as err:
        TASKS["mnli"].load(d)
    assert one_line(err).startswith(os.path.join(d, "train.tsv") + ", line 1: ")
    assert "'gold_label'" in str(err.value)


def test_empty_and_header_only_files(tmp_path):
    d = mini_folder(tmp_path, "sst2")
    write(os.path.join(d, "test.tsv"), [], final_newline=False)
    with pytest.raises(UserError) as err:
        TASKS["sst2"].load(d)
    assert os.path.join(d, "test.tsv") in one_line(err) and "empty" in str(err.value)
    write(os.path.join(d, "test.tsv"), ["index\tsentence"])
    with pytest.raises(UserError) as err:
        TASKS["sst2"].load(d)
    assert os.path.join(d, "test.tsv") in one_line(err) and "no examples" in str(err.value)


# --- STS-B targets and predictions ---------------------------------------------

def label_encoding_definition(labels, nclass=6):
    """A NumPy transcription of the original's definition (utils.stsb_label_encoding)."""
    Y = np.zeros((len(labels), nclass)).astype(np.float32)
    for j, y in enumerate(labels):
        for i in range(nclass):
            if i == np.floor(y) + 1:
                Y[j, i] = y - np.floor(y)
            if i == np.floor(y):
                Y[j, i] = np.floor(y) - y + 1
    return Y


SCORES = np.concatenate([np.linspace(0, 5, 101),
                         [0.8, 2.11111111111111, 3.77777777777778, 4.57142857142857, 4.999,
                          0.001]]).astype(np.float32)


def test_stsb_label_encoding_matches_the_definition():
    task = TASKS["stsb"]
    got = task.target_array(SCORES)
    assert got.dtype == np.float32 and got.shape == (len(SCORES), 6)
    np.testing.assert_array_equal(got, label_encoding_definition(SCORES))
    np.testing.assert_array_equal(glue.stsb_label_encoding([0.0, 2.5, 5.0]),
                                  [[1, 0, 0, 0, 0, 0], [0, 0, .5, .5, 0, 0], [0, 0, 0, 0, 0, 1]])
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-6)
    # Its expected class is the score: exactly where the weights are exact in float32
    # (quarters), within float32 rounding elsewhere.
    expected = got.astype(np.float64) @ np.arange(6)
    np.testing.assert_allclose(expected, SCORES, rtol=0, atol=1e-6)
    quarters = np.arange(21, dtype=np.float32) / 4
    assert (task.target_array(quarters).astype(np.float64) @ np.arange(6) == quarters).all()


def test_stsb_predict_is_the_expected_score():
    task = TASKS["stsb"]
    assert task.predict is glue.stsb_expected_score
    logits = np.array([[0, 0, 0, 0, 0, 0],
                       [50, 0, 0, 0, 0, 0],
                       [0, 0, 0, 0, 0, 60],
                       [0, 0, np.log(3), 0, 0, 0],
                       [1000, 1000, -1000, -1000, -1000, -1000]], np.float32)
    pred = task.predictions(logits)
    assert pred.dtype == np.float64
    np.testing.assert_allclose(pred, [2.5, 0.0, 5.0, (0 + 1 + 6 + 3 + 4 + 5) / 8.0, 0.5],
                               atol=1e-12)
    # Logits that are the log of the soft targets give back the score.
    y = np.array([0.0, 1.2, 3.8, 5.0], np.float32)
    back = task.predictions(np.log(glue.stsb_label_encoding(y) + 1e-30))
    np.testing.assert_allclose(back, y, atol=1e-6)
    assert task.prediction_strings(back) == ["0.000", "1.200", "3.800", "5.000"]


# --- declarations ---------------------------------------------------------------

def test_declarations():
    assert [t.name for t in glue.TASKS] == ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli",
                                            "qnli", "rte"]
    for t in glue.TASKS:
        assert get_task(t.name) is t
    got = {t.name: (t.folder, t.fields, t.n_seq, t.head, t.n_out, t.label_names,
                    tuple(m.name for m in t.metrics), t.soft_targets,
                    tuple((s.split, s.filename) for s in t.submissions), t.analysis, t.paper)
           for t in glue.TASKS}
    nli2 = ("entailment", "not_entailment")
    assert got == {
        "cola": ("CoLA", ("sentence",), 1, "linear", 2, None, ("mcc",), False,
                 (("test", "CoLA.tsv"),), (), {"test mcc": 45.4}),
        "sst2": ("SST-2", ("sentence",), 1, "linear", 2, None, ("acc",), False,
                 (("test", "SST-2.tsv"),), (), {"test acc": 91.3}),
        "mrpc": ("MRPC", ("sentence1", "sentence2"), 2, "pair_sum", 2, None, ("f1", "acc"), False,
                 (("test", "MRPC.tsv"),), (), {"test f1": 82.3}),
        "stsb": ("STS-B", ("sentence1", "sentence2"), 2, "pair_sum", 6, None,
                 ("pearson", "spearman"), True, (("test", "STS-B.tsv"),), (),
                 {"test pearson": 82.0}),
        "qqp": ("QQP", ("question1", "question2"), 2, "pair_sum", 2, None, ("f1", "acc"), False,
                (("test", "QQP.tsv"),), (), {"test f1": 70.3}),
        "mnli": ("MNLI", ("premise", "hypothesis"), 1, "linear", 3,
                 ("entailment", "neutral", "contradiction"), ("acc",), False,
                 (("test", "MNLI-m.tsv"), ("test_mm", "MNLI-mm.tsv"), ("ax", "AX.tsv")),
                 ("valid_mm",), {"test acc": 82.1, "test_mm acc": 81.4}),
        "qnli": ("QNLI", ("question", "sentence"), 1, "linear", 2, nli2, ("acc",), False,
                 (("test", "QNLI.tsv"),), (), {"test acc": 88.1}),
        "rte": ("RTE", ("sentence1", "sentence2"), 1, "linear", 2, nli2, ("acc",), False,
                (("test", "RTE.tsv"),), (), {"test acc": 56.0}),
    }
    for t in glue.TASKS:
        assert t.display == t.folder
        assert "gluebenchmark.com" in t.source
        if t.name != "stsb":
            assert t.target_array(np.array([1, 0], np.int64)).tolist() == [1, 0]
            assert t.predictions(np.array([[0.1, 0.9] + [0] * (t.n_out - 2)])).tolist() == [1]
    assert "v1" in TASKS["qnli"].source
    assert TASKS["mnli"].prediction_strings([2, 0]) == ["contradiction", "entailment"]
    assert TASKS["sst2"].prediction_strings(np.array([1, 0])) == ["1", "0"]


S, D, C = SPECIALS


@pytest.mark.parametrize("task,ids,expected", [
    ("cola", {"sentence": [1, 2, 3]}, [[S, 1, 2, 3, C]]),
    ("sst2", {"sentence": [7]}, [[S, 7, C]]),
    ("mrpc", {"sentence1": [1, 2], "sentence2": [3]}, [[S, 1, 2, D, 3, C], [S, 3, D, 1, 2, C]]),
    ("stsb", {"sentence1": [4], "sentence2": [5, 6]}, [[S, 4, D, 5, 6, C], [S, 5, 6, D, 4, C]]),
    ("qqp", {"question1": [8, 9], "question2": [10, 11, 12]},
     [[S, 8, 9, D, 10, 11, 12, C], [S, 10, 11, 12, D, 8, 9, C]]),
    ("mnli", {"premise": [1, 2, 3], "hypothesis": [4]}, [[S, 1, 2, 3, D, 4, C]]),
    ("qnli", {"question": [5, 6], "sentence": [7, 8, 9]}, [[S, 5, 6, D, 7, 8, 9, C]]),
    ("rte", {"sentence1": [1], "sentence2": [2, 3]}, [[S, 1, D, 2, 3, C]]),
])
def test_transforms(task, ids, expected):
    t = TASKS[task]
    assert set(ids) == set(t.fields)
    out = t.transform(ids, SPECIALS, 512)
    assert out == expected and len(out) == t.n_seq
    # Cut to the context: a pair's longer part loses its end, a single text its end.
    if t.n_seq == 2 or len(t.fields) == 2:
        a, b = t.fields
        short = t.transform({a: [1, 2, 3, 4, 5], b: [6]}, SPECIALS, 7)
        assert short[0] == [S, 1, 2, 3, D, 6, C]
    else:
        assert t.transform({t.fields[0]: [1, 2, 3, 4, 5]}, SPECIALS, 5) == [[S, 1, 2, 3, C]]
