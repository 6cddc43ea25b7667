"""What a training step minimises: the transformer composed with a head and losses.

An objective names its variables (in checkpoint order), computes one tower's loss and
per-example outputs from a batch, and (fine-tuning) the evaluation forward pass. The
multi-device step (towers.mgpu_train) and the loop know nothing else about it:

- `FineTuning`: transformer + the task's head (model/heads.py) + the LM loss, the
  paper's L3 = L2 + lm_coef * L1 (section 3.2). Batch (X, M, Y).
- `LanguageModeling`: transformer + the LM loss alone (pre-training, section 4.1),
  its softmax over the vocabulary's rows of `we`. Batch (X,).
"""

import tensorflow as tf

from finetune_lm.model import heads
from finetune_lm.model import transformer as tfm
from finetune_lm.model import variables
from finetune_lm.model.ops import check_shape
from finetune_lm.model.rng import SiteSeeds


def train_loss(clf_losses, lm_losses, hp):
    loss = tf.reduce_mean(clf_losses)
    if hp.lm_coef > 0 and lm_losses is not None:
        loss += hp.lm_coef * tf.reduce_mean(lm_losses)
    return loss


class FineTuning:
    """The fine-tuning model of one task: hp carries the head's declaration."""

    def __init__(self, hp):
        if hp.head not in heads.HEADS:
            raise ValueError("hp.head is %r; expected one of %s" % (hp.head, sorted(heads.HEADS)))
        self.hp = hp

    def param_shapes(self):
        shapes = variables.param_shapes(self.hp)
        shapes.update(heads.param_shapes(self.hp))
        return shapes

    def output_shapes(self):
        """Per-example shapes of the tower's outputs: clf logits, clf losses."""
        return [[heads.n_logits(self.hp)], []]

    def forward(self, p, X, M, Y, rng=None, lm=True):
        """One tower's forward pass and losses.

        X: [B, K, n_ctx, 2] int32 (token ids, position ids), K = hp.n_seq sequences per
        example; M: [B, K, n_ctx] float32 mask; Y: the head's targets ([B] int32 labels,
        or [B, n_out] float32 soft targets, see heads.loss); rng: [2] int64 seed of this
        tower's dropout draws, or None for evaluation. Returns clf_logits [B, n_out]
        ([B, K] for a multiple-choice head), clf_losses [B], lm_losses [BK] (per-sequence
        masked mean; None with lm=False, which skips the LM head: evaluation reads only
        the classifier).
        """
        hp = self.hp
        clf_logits, h, we, X, M = self._classifier(p, X, M, rng)
        check_shape("Y", Y, [None] if not hp.soft_targets else [None, hp.n_out])
        lm_losses = tfm.lm_losses(h, we, X, M, hp) if lm else None  # [BK]
        return clf_logits, heads.loss(clf_logits, Y, hp), lm_losses

    def logits(self, p, X, M):
        """The classifier's logits [B, n_logits] of X [B, K, n_ctx, 2], M [B, K, n_ctx],
        without dropout: the evaluation's (predict's) forward pass, which the SavedModel
        export serves."""
        return self._classifier(p, X, M, None)[0]

    def _classifier(self, p, X, M, rng):
        """(clf_logits [B, n_out], h [BK, T, C], we [V, C], X [BK, T, 2], M [BK, T])."""
        hp = self.hp
        check_shape("X", X, [None, hp.n_seq, hp.n_ctx, 2])
        check_shape("M", M, [None, hp.n_seq, hp.n_ctx])
        if rng is not None:  # every site's seed in one pass, the head's included
            rng = SiteSeeds(rng, tfm.dropout_sites(hp) + list(heads.DROPOUT_SITES))
        X = tf.reshape(X, [-1, hp.n_ctx, 2])  # [BK, T, 2]
        M = tf.reshape(M, [-1, hp.n_ctx])  # [BK, T]
        out = tfm.transformer(p, X, hp, rng)
        h, we = out.h, out.we  # [BK, T, C], [V, C]
        clf_logits = heads.HEADS[hp.head](p, h, X, hp, rng)  # [B, n_out]
        return clf_logits, h, we, X, M

    def tower(self, p, batch, rng):
        """(loss, (clf_logits, clf_losses)) of one tower on batch (X, M, Y)."""
        X, M, Y = batch
        # lm_coef 0 never reads the LM losses (the original computed them anyway).
        clf_logits, clf_losses, lm_losses = self.forward(p, X, M, Y, rng, lm=self.hp.lm_coef > 0)
        return train_loss(clf_losses, lm_losses, self.hp), (clf_logits, clf_losses)

    def reported_loss(self, loss, outputs):
        """The loss the step reports (the divergence check, the progress bar): the mean
        classification loss, as the original's train cost. Not the tower's combined loss:
        as an output of the update it kept the LM head's [N(T-1), V] logits alive longer
        (190 MB more at 8 x 2 x 77, measured)."""
        return tf.reduce_mean(outputs[1])

    def predict(self, p, batch):
        """(clf_logits, clf_losses) without dropout or the LM head."""
        X, M, Y = batch
        logits, losses, _ = self.forward(p, X, M, Y, rng=None, lm=False)
        return logits, losses


class LanguageModeling:
    """The language model alone: the mean next-token loss of a tower's windows."""

    def __init__(self, hp):
        self.hp = hp

    def param_shapes(self):
        return variables.param_shapes(self.hp)

    def output_shapes(self):
        return []

    def reported_loss(self, loss, outputs):
        return loss

    def tower(self, p, batch, rng):
        """(loss, ()) of one tower on batch (X,), X [n_batch, n_ctx, 2]: every window is
        full, the softmax runs over the vocabulary's rows of we (not the special or
        position rows)."""
        X, = batch
        hp = self.hp
        out = tfm.transformer(p, X, hp, rng)
        h, we = out.h, out.we  # [N, T, C], [V, C]
        M = tf.ones(tf.shape(X)[:2], tf.float32)
        return tf.reduce_mean(tfm.lm_losses(h, we[:hp.n_vocab], X, M, hp)), ()
