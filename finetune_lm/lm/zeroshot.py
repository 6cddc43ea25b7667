"""The zero-shot engine of the paper's section 5: the two kinds of heuristic the task
declarations (tasks/zeroshot.py) use, the choice among K continuations by their average
log-probability, and one score per text against a threshold fitted to maximise a metric.
The per-token log-probabilities `lp` come from the language model's scorer
(lm/scorer.Scorer.sequence_logprobs, training/model.Model.sequence_logprobs).
Names no task: a declaration supplies the texts, the metric, chance and the state of the
art."""

import numpy as np

from finetune_lm.util.errors import UserError


class Encoded:
    """BPE ids of texts (the fine-tuning's encoder, finetune_lm/data/text.py), each
    distinct text encoded once (RACE's article stands in four pairs)."""

    def __init__(self, encoder):
        self.encoder, self.cache = encoder, {}

    def __call__(self, texts):
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        for t, ids in zip(todo, self.encoder.encode(todo) if todo else []):
            self.cache[t] = ids
        return [self.cache[t] for t in texts]


def pair_sequences(pairs, encode, n_ctx):
    """(token lists, first scored position of each, number of contexts cut): context
    ids then continuation ids; a sequence longer than n_ctx loses the start of its
    context (the continuation is kept whole, or its last n_ctx - 1 tokens)."""
    ctx = encode([c for c, _ in pairs])
    cont = encode([x for _, x in pairs])
    seqs, firsts, cut = [], [], 0
    for a, b in zip(ctx, cont):
        if not b:
            b = a[-1:]  # an empty continuation: its context's last token stands for it
            a = a[:-1]
        if not a:
            a = b[:1]  # no context: the continuation's first token is context only
            b = b[1:] or b
        seq = list(a) + list(b)
        if len(seq) > n_ctx:
            cut += 1
            seq = seq[-n_ctx:]
        seqs.append(seq)
        firsts.append(max(1, len(seq) - len(b)))
    return seqs, firsts, cut


def choice_scores(lp, items, encode, n_ctx, progress=None):
    """[N, K] the average log-probability of each continuation given its context;
    items: per example, K (context, continuation) text pairs. Also returns the number
    of sequences whose context was cut."""
    k = len(items[0]) if items else 0
    if any(len(it) != k for it in items):
        raise ValueError("examples with different numbers of choices")
    pairs = [p for it in items for p in it]
    seqs, firsts, cut = pair_sequences(pairs, encode, n_ctx)
    logps = lp(seqs, progress)
    scores = np.array([float(np.mean(l[f - 1:])) for l, f in zip(logps, firsts)], np.float64)
    return scores.reshape([len(items), k]), cut


def text_scores(lp, texts, encode, n_ctx, progress=None):
    """[N] the average log-probability of each text's tokens after its first (its last
    n_ctx tokens when longer); a one-token text scores 0 (nothing to predict)."""
    seqs = [ids[-n_ctx:] for ids in encode(list(texts))]
    seqs = [s if s else [0] for s in seqs]
    logps = lp(seqs, progress)
    return np.array([float(np.mean(l)) if len(l) else 0.0 for l in logps], np.float64)


def fit_threshold(scores, labels, metric):
    """The threshold t maximising metric(scores > t, labels), among the midpoints of
    adjacent distinct scores (and below the lowest); the first best on ties."""
    s = np.unique(np.asarray(scores, np.float64))
    cands = np.concatenate([[s[0] - 1.0], (s[:-1] + s[1:]) / 2]) if len(s) else np.array([0.0])
    values = [metric(np.asarray(scores) > t, labels) for t in cands]
    return float(cands[int(np.argmax(values))])


def relative(value, chance, sota):
    """0 at chance, 1 at the state of the art."""
    return (value - chance) / (sota - chance)


def evaluate(zs, lp, encode, n_ctx, split, fit=None, threshold=None, progress=None):
    """One heuristic (a tasks/zeroshot.ZeroShot) on a Split: {"value", "relative",
    "scores", "predictions", "threshold", "cut"}. A "threshold" heuristic takes
    `threshold`, or fits it on the Split `fit`."""
    out = {"threshold": None, "cut": 0}
    if zs.kind == "choice":
        scores, out["cut"] = choice_scores(lp, zs.items(split), encode, n_ctx, progress)
        pred = np.argmax(scores, 1)
    elif zs.kind == "threshold":
        scores = text_scores(lp, zs.items(split), encode, n_ctx, progress)
        if threshold is None:
            fit_scores = scores if fit is split else text_scores(
                lp, zs.items(fit), encode, n_ctx, progress)
            threshold = fit_threshold(fit_scores, fit.labels, zs.metric.fn)
        out["threshold"] = threshold
        pred = (scores > threshold).astype(np.int64)
    else:
        raise ValueError("heuristic kind %r: expected choice or threshold" % zs.kind)
    out["value"] = float(zs.metric.fn(pred, split.labels))
    out["relative"] = float(relative(out["value"], zs.chance, zs.sota))
    out["scores"], out["predictions"] = scores, pred
    return out


def n_scored(zs, split, fit=None):
    """How many sequences evaluate() scores (for a progress bar's total)."""
    n = sum(len(it) for it in zs.items(split)) if zs.kind == "choice" else len(split)
    return n + (len(fit) if fit is not None and fit is not split else 0)


def load_split(zs, data_dir, split, limit=0):
    """(the Split, the Split a threshold is fitted on or None)."""
    splits = zs.load(data_dir)
    if split not in splits:
        raise UserError("--split %s: %s has %s" % (split, zs.title, ", ".join(splits)))
    chosen = splits[split]
    if chosen.labels is None:
        raise UserError("--split %s: %s's %s split has no public labels; expected one of %s"
                        % (split, zs.title, split, ", ".join(
                            k for k, v in splits.items() if v.labels is not None)))
    fit = splits[zs.fit_split] if zs.fit_split else None
    if limit:
        chosen = chosen.subset(slice(0, limit))
        fit = fit.subset(slice(0, limit)) if fit is not None else None
    return chosen, fit
