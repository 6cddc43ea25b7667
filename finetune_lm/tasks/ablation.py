"""The paper's analysis numbers (section 5), declared here because they name tasks:
Table 5's columns and rows, and Figure 2 left's values read off the figure. Read by
training/ablation.py (python -m finetune_lm.reproduce --table5 / --sweep)."""

# Table 5's columns as printed: (task, the Task's main-metric key, title). MNLI's column
# is the mean of MNLI-m and MNLI-mm (the full row's 81.8 = (82.1 + 81.4) / 2).
TABLE5_COLUMNS = (("cola", "matthews_corr", "CoLA (mc)"), ("sst2", "accuracy", "SST2 (acc)"),
                  ("mrpc", "f1", "MRPC (F1)"), ("stsb", "pearson", "STSB (pc)"),
                  ("qqp", "f1", "QQP (F1)"), ("mnli", "accuracy", "MNLI (acc)"),
                  ("qnli", "accuracy", "QNLI (acc)"), ("rte", "accuracy", "RTE (acc)"))
# The second split averaged into a column (MNLI: the mismatched dev set).
TABLE5_SECOND = {"mnli": "valid_mm"}
# Rows: (name, train.py flags that make it, the paper's Avg, the paper's 8 columns).
TABLE5_ROWS = (
    ("Transformer w/ aux LM (full)", {}, 74.7, (45.4, 91.3, 82.3, 82.0, 70.3, 81.8, 88.1, 56.0)),
    ("Transformer w/o pre-training", {"n_transfer": -1}, 59.9,
     (18.9, 84.0, 79.4, 30.9, 65.5, 75.7, 71.2, 53.8)),
    ("Transformer w/o aux LM", {"lm_coef": 0.0}, 75.0,
     (47.9, 92.0, 84.9, 83.2, 69.8, 81.1, 86.9, 54.4)),
)
LSTM_ROW = ("LSTM w/ aux LM", 69.1, (30.3, 90.5, 83.2, 71.8, 68.1, 73.7, 81.1, 54.6),
            "not run: the paper's single-layer 2048-unit LSTM was pre-trained the same way "
            "but its weights were never released, and this project implements the "
            "transformer only")

# Figure 2 left: dev (and train) accuracy against the layers transferred; point i of
# the axis 0..13 is train.py's --n_transfer SWEEP[i] (0: nothing transferred = -1,
# 1: the embeddings alone = 0, 1 + k: the embeddings and k blocks = k). Read off the
# figure (about +-0.3 RACE, +-0.15 MNLI); train: only the ends are given.
SWEEP = (-1, 0) + tuple(range(1, 13))
FIGURE2_LEFT = {
    "mnli": {"valid": (72.5, 75.2, 74.7, 77.6, 78.2, 78.2, 79.7, 80.2, 81.0, 81.3, 81.6, 82.0,
                       82.4, 82.3), "train_ends": (79.5, 97.3), "title": "MultiNLI"},
    "race": {"valid": (39.6, 42.0, 41.0, 46.6, 48.3, 50.0, 53.1, 53.8, 54.0, 55.1, 56.2, 58.3,
                       59.0, 60.1), "train_ends": (54.2, 91.8), "title": "RACE"},
}
