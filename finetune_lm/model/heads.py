"""Task heads over the transformer's hidden states (paper section 3.3, Figure 1).

Every head reads the final state at the first `_classify_` token of each sequence,
applies the classifier dropout (one mask per example, shared by its K sequences)
and the linear layer `model/clf/w`, `model/clf/b` (the original's variable names):

- `choice` (multiple choice: ROCStories, RACE): one score per sequence through
  `clf/w [C, 1]`, the K scores of an example its logits [B, K], softmax over them.
- `linear` (classification and entailment, K = 1): `clf/w [C, n_out]` -> [B, n_out].
- `pair_sum` (similarity, K = 2: `A $ B` and `B $ A`): the two pooled states added
  element-wise, then `clf/w [C, n_out]` -> [B, n_out].

The transformer (finetune_lm/model/transformer.py) knows none of this: an objective
(finetune_lm/training/objectives.py) composes the two.

`loss` is the softmax cross-entropy against int labels [B], or against soft targets
[B, n_out] (hp.soft_targets: STS-B's encoding of a 0-5 score over 6 classes).
"""

import collections

import tensorflow as tf

from finetune_lm.model.ops import dropout, shape_list

# The head's dropout site: one mask per example before the linear layer.
DROPOUT_SITES = ("model/clf/clf_pdrop",)


def param_shapes(hp):
    """{name: shape} of the head's variables, which follow the transformer's in
    checkpoints and best_params.jl: one score per sequence for multiple choice, one per
    class otherwise."""
    return collections.OrderedDict([("model/clf/w", [hp.n_embd, hp.n_out]),
                                    ("model/clf/b", [hp.n_out])])


def pool(h, X, hp):
    """Final state at the first `_classify_` of each sequence: [N, T, C] -> [N, C]."""
    n, t = shape_list(h)[:2]
    # argmax of a 0/1 vector: the first 1 (ties go to the lowest index).
    idx = tf.argmax(tf.cast(tf.equal(X[:, :, 0], hp.clf_token), tf.float32), 1,
                    output_type=tf.int32)  # [N]
    return tf.gather(tf.reshape(h, [-1, hp.n_embd]), tf.range(n, dtype=tf.int32) * t + idx)


def _pooled(h, X, hp, rng):
    """Pooled states per example with their dropout: [BK, T, C] -> [B, K, C]."""
    clf_h = tf.reshape(pool(h, X, hp), [-1, hp.n_seq, hp.n_embd])  # [B, K, C]
    # One mask per example, shared by its K sequences.
    return dropout(clf_h, hp.clf_pdrop, rng, "model/clf/clf_pdrop",
                   noise_shape=[shape_list(clf_h)[0], 1, hp.n_embd])


def clf(p, x):
    """The linear layer: [N, C] -> [N, n_out]."""
    return tf.matmul(x, p["model/clf/w"]) + p["model/clf/b"]


def choice(p, h, X, hp, rng):
    clf_h = _pooled(h, X, hp, rng)  # [B, K, C]
    return tf.reshape(clf(p, tf.reshape(clf_h, [-1, hp.n_embd])), [-1, hp.n_seq])  # [B, K]


def linear(p, h, X, hp, rng):
    clf_h = _pooled(h, X, hp, rng)  # [B, 1, C]
    return clf(p, tf.reshape(clf_h, [-1, hp.n_embd]))  # [B, n_out]


def pair_sum(p, h, X, hp, rng):
    clf_h = _pooled(h, X, hp, rng)  # [B, 2, C]
    return clf(p, tf.reduce_sum(clf_h, axis=1))  # [B, n_out]


HEADS = {"choice": choice, "linear": linear, "pair_sum": pair_sum}


def n_logits(hp):
    """Columns of the head's logits: K for multiple choice, n_out otherwise."""
    return hp.n_seq if hp.head == "choice" else hp.n_out


def regression(hp):
    """One output column of a linear or pair_sum head is a regression (a softmax over
    one class would be constant): the loss is the squared error against float targets."""
    return hp.head != "choice" and hp.n_out == 1 and not hp.soft_targets


def loss(logits, Y, hp):
    """Per-example loss [B]: classification, or a regression's squared error."""
    if regression(hp):
        return tf.square(logits[:, 0] - tf.cast(Y, logits.dtype))  # [B]
    if hp.soft_targets:
        return tf.nn.softmax_cross_entropy_with_logits(labels=Y, logits=logits)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(logits=logits, labels=Y)
