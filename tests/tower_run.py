"""Run a few updates of a tiny model on a chosen set of devices; save the parameters.

Used by test_towers.py in subprocesses (devices must be configured before TF starts):
    python tests/tower_run.py OUT.npz --cpu_devices 4 --max_devices 2 [--steps 3]
Under a multi-worker TF_CONFIG, each worker writes OUT.<task index>.npz: the number of
replicas, the variables' names in checkpoint order (`names`), their values after the
updates (`p000`, ...) and before them (`s000`, ...), so that the test needs neither the
model's settings nor this script.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def batch(hp, step):
    rng = np.random.RandomState(100 + step)
    n = hp.n_batch_train
    X = np.zeros((n, 2, hp.n_ctx, 2), np.int32)
    M = np.zeros((n, 2, hp.n_ctx), np.float32)
    for i in range(n):
        for j in range(2):
            length = rng.randint(4, hp.n_ctx + 1)
            X[i, j, :length, 0] = rng.randint(0, hp.n_vocab, length)
            X[i, j, length - 1, 0] = hp.clf_token
            M[i, j, :length] = 1
    X[..., 1] = np.arange(hp.n_vocab + hp.n_special, hp.n_vocab + hp.n_special + hp.n_ctx)
    return X, M, rng.randint(0, 2, n).astype(np.int32)


def tiny_hparams(n_gpu=4, pdrop=0.1, seed=42):
    from finetune_lm.model.hparams import HParams
    return HParams(n_vocab=50, n_ctx=10, n_embd=32, n_head=4, n_layer=2, clf_token=52,
                   n_batch=2, n_gpu=n_gpu, n_updates_total=10, lr=1e-3, lr_warmup=0.1,
                   embd_pdrop=pdrop, attn_pdrop=pdrop, resid_pdrop=pdrop, clf_pdrop=pdrop,
                   seed=seed, head="choice", n_seq=2, n_out=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--cpu_devices", type=int, default=0)
    ap.add_argument("--max_devices", type=int, default=None)
    ap.add_argument("--n_gpu", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    from finetune_lm.training import towers
    from finetune_lm.training.objectives import FineTuning
    import tensorflow as tf
    towers.split_cpu(args.cpu_devices)
    tf.config.experimental.enable_op_determinism()
    hp = tiny_hparams(args.n_gpu)
    strategy = towers.make_strategy(hp.n_gpu, max_devices=args.max_devices)
    objective = FineTuning(hp)
    state = towers.TrainState(strategy, hp, objective.param_shapes())
    start = state.get_params()
    train = towers.mgpu_train(state, objective)
    for step in range(args.steps):
        train(*batch(hp, step))
    out = args.out
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task")
    if task:
        out = "%s.%d.npz" % (out[:-4], task["index"])
    np.savez(out, replicas=strategy.num_replicas_in_sync,
             names=np.array(list(objective.param_shapes())),
             **{"p%03d" % i: a for i, a in enumerate(state.get_params())},
             **{"s%03d" % i: a for i, a in enumerate(start)})
    print("replicas", strategy.num_replicas_in_sync)


if __name__ == "__main__":
    main()
