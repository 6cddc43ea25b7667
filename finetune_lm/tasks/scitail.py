"""SciTail (Khot et al. 2018): science-question premise/hypothesis pairs, two classes;
GPT-1's Table 2 reports accuracy on the public labelled test set (2126 pairs).

Read from SciTailV1.1/tsv_format: scitail_1.0_{train,dev,test}.tsv (23097, 1304, 2126
rows), no header, three tab-separated fields: premise, hypothesis, label `entails` or
`neutral` (not "entailment"). Read line by line on "\\n", without csv quoting.
"""

import os

import numpy as np

from finetune_lm.util.errors import UserError
from .base import Split, label_index, read_tsv
from .snli import entailment_task

SOURCE = ("SciTail v1.1 (http://data.allenai.org.s3.amazonaws.com/downloads/SciTailV1.1.zip, "
          "its tsv_format folder)")
LABELS = ("entails", "neutral")
SPLITS = (("train", "train"), ("valid", "dev"), ("test", "test"))
FILE = "scitail_1.0_%s.tsv"


def read(path, what):
    """One SciTail tsv_format file as a Split."""
    premises, hypotheses, labels = [], [], []
    for lineno, fields in read_tsv(path, what, SOURCE, n_header=0, min_fields=3):
        where = "%s, line %d" % (path, lineno)
        if len(fields) != 3:
            raise UserError("%s: %d fields, expected 3 (premise, hypothesis, label)"
                            % (where, len(fields)))
        labels.append(label_index(fields[2], LABELS, where))
        premises.append(fields[0])
        hypotheses.append(fields[1])
    return Split(texts={"premise": premises, "hypothesis": hypotheses},
                 labels=np.asarray(labels, np.int64), index=list(range(len(labels))),
                 source=path)


def load(data_dir):
    return {name: read(os.path.join(data_dir, FILE % stem), "SciTail %s" % stem)
            for name, stem in SPLITS}


TASKS = [entailment_task(name="scitail", folder=os.path.join("SciTailV1.1", "tsv_format"),
                         source=SOURCE, load=load, n_out=2, label_names=LABELS,
                         title="SciTail", paper={"test acc": 88.3})]
