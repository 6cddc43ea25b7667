"""Fine-tune GPT-1 (see finetune_lm/train.py and README.md).

One GPU, or the CPU:   python train.py --dataset rocstories --desc rocstories --submit --analysis
Several GPUs (4 towers over the GPUs present, same update):   the same command; --n_gpu 4 is the default.
Two machines:          TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                       "task": {"type": "worker", "index": 0}}' python train.py ...   (index 1 on host1)
"""

import sys

from finetune_lm.train import main

if __name__ == "__main__":
    sys.exit(main())
