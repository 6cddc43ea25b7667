"""The paper's metrics, in percent: accuracy, F1, Matthews correlation, Pearson and
Spearman correlations (for STS-B, of the predicted expected score)."""

import numpy as np

from .base import Metric


def _accuracy(pred, labels):
    return float(np.mean(np.asarray(pred) == np.asarray(labels)) * 100.)


def _f1(pred, labels):
    """F1 of the positive class (1), as GLUE scores MRPC and QQP."""
    pred, labels = np.asarray(pred), np.asarray(labels)
    tp = float(np.sum((pred == 1) & (labels == 1)))
    fp = float(np.sum((pred == 1) & (labels != 1)))
    fn = float(np.sum((pred != 1) & (labels == 1)))
    return 0.0 if tp == 0 else 100. * 2 * tp / (2 * tp + fp + fn)


def _matthews(pred, labels):
    pred, labels = np.asarray(pred) == 1, np.asarray(labels) == 1
    tp, tn = float(np.sum(pred & labels)), float(np.sum(~pred & ~labels))
    fp, fn = float(np.sum(pred & ~labels)), float(np.sum(~pred & labels))
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if den == 0 else 100. * (tp * tn - fp * fn) / den


def _pearson(pred, labels):
    pred, labels = np.asarray(pred, np.float64), np.asarray(labels, np.float64)
    if np.std(pred) == 0 or np.std(labels) == 0:
        return 0.0
    return float(np.corrcoef(pred, labels)[0, 1] * 100.)


def _ranks(a):
    """Average ranks (ties share the mean of their ranks), from 1."""
    a = np.asarray(a, np.float64)
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a), np.float64)
    ranks[order] = np.arange(1, len(a) + 1)
    _, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def _spearman(pred, labels):
    return _pearson(_ranks(pred), _ranks(labels))


ACCURACY = Metric("acc", _accuracy, title="Accuracy")
F1 = Metric("f1", _f1, title="F1")
MATTHEWS = Metric("mcc", _matthews, low=-100.0, title="Matthews corr")
PEARSON = Metric("pearson", _pearson, low=-100.0, title="Pearson")
SPEARMAN = Metric("spearman", _spearman, low=-100.0, title="Spearman")
