"""The paper's four input transformations (section 3.3, Figure 1) over BPE ids.

Each maker takes the task's field names and returns `transform(ids, specials,
n_ctx) -> K token lists`, with `ids` a field -> id list mapping of one example,
`specials` (start, delimiter, classify) and `n_ctx` the --n_ctx flag: every
sequence is `_start_ ... _classify_` and fits in n_ctx positions.

Truncation (the paper is silent): a question or an answer option is never cut;
the long part is. A single text is cut at its end. Of a pair (premise and
hypothesis, or the two similarity sentences) the longer one is cut at its end, one
token at a time, until the pair fits (the rule of BERT's `_truncate_seq_pair`). In
multiple choice the context (RACE's article) is cut at its end so that the longest
option fits, the same cut for every option.
"""


def _fit_pair(a, b, budget):
    """Cut the longer of a and b at its end until len(a) + len(b) <= budget."""
    a, b = list(a), list(b)
    while len(a) + len(b) > budget:
        if len(a) >= len(b):
            a.pop()
        else:
            b.pop()
    return a, b


def classification(field):
    """`[_start_] text [_classify_]`, K = 1 (CoLA, SST-2)."""
    def transform(ids, specials, n_ctx):
        start, _, clf = specials
        return [[start] + ids[field][:n_ctx - 2] + [clf]]
    return transform


def entailment(premise, hypothesis):
    """`[_start_] premise [_delimiter_] hypothesis [_classify_]`, K = 1."""
    def transform(ids, specials, n_ctx):
        start, delim, clf = specials
        p, h = _fit_pair(ids[premise], ids[hypothesis], n_ctx - 3)
        return [[start] + p + [delim] + h + [clf]]
    return transform


def similarity(first, second):
    """Both orders, `A $ B` and `B $ A`, K = 2 (their final states are summed by the
    pair_sum head)."""
    def transform(ids, specials, n_ctx):
        start, delim, clf = specials
        a, b = _fit_pair(ids[first], ids[second], n_ctx - 3)
        return [[start] + a + [delim] + b + [clf], [start] + b + [delim] + a + [clf]]
    return transform


def multiple_choice(context, question, options):
    """`[_start_] context question [_delimiter_] option_k [_classify_]` for each
    option, K = len(options). `question` may be None (Story Cloze has none)."""
    def transform(ids, specials, n_ctx):
        start, delim, clf = specials
        q = list(ids[question]) if question else []
        opts = [list(ids[o]) for o in options]
        budget = n_ctx - 3 - len(q) - max(len(o) for o in opts)
        if budget < 0:
            # Question and longest option alone overflow the context (not in RACE):
            # then they are cut too, the option last.
            q = q[:max(0, len(q) + budget)]
            budget = n_ctx - 3 - len(q) - max(len(o) for o in opts)
            opts = [o[:len(o) + min(0, budget)] for o in opts]
            budget = 0
        ctx = list(ids[context])[:budget] + q
        return [[start] + ctx + [delim] + o + [clf] for o in opts]
    return transform
