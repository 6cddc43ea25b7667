"""The zero-shot heuristics of the paper's section 5 (Figure 2 right): what each task's
heuristic scores, declared here so that the engine (lm/zeroshot.py) and the command
(finetune_lm/zeroshot.py) name no task.

A heuristic is one of two kinds:
- "choice": each example is K (context, continuation) text pairs; the prediction is the
  pair whose continuation has the highest average token log-probability given its
  context (SST-2, RACE, DPRD);
- "threshold": each example is one text scored by its average token log-probability;
  the prediction is score > threshold, the threshold fitted on the train split to
  maximise the metric (CoLA).

The relative score is (metric - chance) / (sota - chance): 0 for random guessing, 1 for
the single-model state of the art. The paper names neither the denominators nor the
splits, separators or threshold; the choices below are this project's, and each is
stated in `choices` (printed by the command, in docs/analysis.md).
"""

import dataclasses
import re
from typing import Callable, Tuple

from . import dprd, glue, race
from .metrics import ACCURACY, MATTHEWS

# The release's ids of the SST-2 words ("very</w>" 963, "positive</w>" 6353,
# "negative</w>" 9503): each one BPE token, so the average log-probability of the
# one-token continuation is the next-token log-probability the paper compares.
SST2_WORDS = ("negative", "positive")  # in the order of SST-2's labels "0", "1"


@dataclasses.dataclass(frozen=True)
class ZeroShot:
    """One task's heuristic. name: `--task`; folder: its data folder under datasets/;
    load(data_dir) -> {split: Split}; kind: "choice" or "threshold"; items(split) ->
    per example, [(context, continuation)] * K ("choice") or the text ("threshold");
    metric: a tasks.Metric; chance, sota: the relative score's 0 and 1 (percent);
    paper_end: the transformer's last relative score read off Figure 2 right; curve:
    its legend there; choices: every choice the paper leaves open, as sentences."""
    name: str
    title: str
    folder: str
    source: str
    load: Callable
    kind: str
    items: Callable
    metric: object
    chance: float
    sota: float
    sota_what: str
    paper_end: float
    curve: str
    default_split: str = "valid"
    fit_split: str = ""  # "threshold": the split the threshold is fitted on
    choices: Tuple[str, ...] = ()


def sst2_items(split):
    return [[(s + " very", w) for w in SST2_WORDS] for s in split.texts["sentence"]]


def cola_items(split):
    return list(split.texts["sentence"])


def race_items(split):
    t = split.texts
    return [[(a + " " + q, t[o][i]) for o in race.OPTIONS]
            for i, (a, q) in enumerate(zip(t["article"], t["question"]))]


def substitute(sentence, pronoun, candidate):
    """(the sentence up to the pronoun's first occurrence with the candidate in its
    place, the rest after it). The first whole-word occurrence, case-insensitive; a
    pronoun at the very end leaves no rest: the candidate itself is then scored (the
    context is what comes before it)."""
    m = re.search(r"(?<!\w)%s(?!\w)" % re.escape(pronoun), sentence, re.IGNORECASE)
    if m is None:
        m = re.search(re.escape(pronoun), sentence, re.IGNORECASE)
    if m is None:
        raise ValueError("pronoun %r not in %r" % (pronoun, sentence))
    before, rest = sentence[:m.start()], sentence[m.end():]
    if not rest.strip(" ."):
        return before.rstrip(), candidate + rest
    return before + candidate, rest


def dprd_items(split):
    t = split.texts
    return [[substitute(s, p, c) for c in (c0, c1)]
            for s, p, c0, c1 in zip(t["sentence"], t["pronoun"], t["candidate0"],
                                    t["candidate1"])]


def _task(name):
    return next(t for t in glue.TASKS + race.TASKS if t.name == name)


HEURISTICS = [
    ZeroShot(name="sst2", title="SST-2", folder=_task("sst2").folder,
             source=_task("sst2").source, load=_task("sst2").load, kind="choice",
             items=sst2_items, metric=ACCURACY, chance=50.0, sota=93.2,
             sota_what="the previous best of the paper's Table 4 (93.2, sparse byte mLSTM)",
             paper_end=0.68, curve="Sentiment analysis",
             choices=("the token `very` appended after a space to each sentence; the "
                      "prediction is the larger of the log-probabilities of `positive` and "
                      "`negative` next (one BPE token each)",
                      "chance 50% (two classes)")),
    ZeroShot(name="cola", title="CoLA", folder=_task("cola").folder,
             source=_task("cola").source, load=_task("cola").load, kind="threshold",
             items=cola_items, metric=MATTHEWS, chance=0.0, sota=35.0,
             sota_what="the previous best of the paper's Table 4 (35.0 mc)",
             paper_end=0.43, curve="Linguistic acceptability", fit_split="train",
             choices=("each sentence scored by the average log-probability of its tokens "
                      "after the first (the first has no context: no start token is "
                      "added)",
                      "acceptable when the score is above a threshold fitted on the train "
                      "split to maximise Matthews' correlation (the midpoint between two "
                      "adjacent train scores), then applied to the evaluated split",
                      "chance: Matthews' correlation 0")),
    ZeroShot(name="race", title="RACE", folder=_task("race").folder,
             source=_task("race").source, load=_task("race").load, kind="choice",
             items=race_items, metric=ACCURACY, chance=25.0, sota=53.3,
             sota_what="the previous best of the paper's Table 3 (53.3, BiAttention MRU, "
                       "an ensemble: the table names no single model)",
             paper_end=0.25, curve="Question answering",
             choices=("the context is the article, a space, the question; each of the "
                      "four answers is scored by the average log-probability of its tokens "
                      "after that context",
                      "a context longer than the model's positions keeps its last tokens",
                      "chance 25% (four options)")),
    ZeroShot(name="dprd", title="DPRD", folder=dprd.FOLDER, source=dprd.SOURCE,
             load=dprd.load, kind="choice", items=dprd_items, metric=ACCURACY,
             chance=50.0, sota=73.05,
             sota_what="Rahman and Ng 2012's test accuracy (73.05; the paper names no "
                       "denominator for DPRD)",
             paper_end=0.55, curve="Winograd schemas", default_split="test",
             choices=("the pronoun's first whole-word occurrence (case-insensitive) is "
                      "replaced by each candidate as written; the prediction is the "
                      "candidate under which the rest of the sentence after it has the "
                      "higher average token log-probability",
                      "DPRD has no dev split: the test split (564) by default",
                      "chance 50% (two candidates)")),
]
BY_NAME = {h.name: h for h in HEURISTICS}
NAMES = tuple(BY_NAME)
