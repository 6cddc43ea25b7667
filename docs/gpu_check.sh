#!/bin/bash
# GPU check of issue #17, a few minutes on one GPU (e.g. an H200). Run from the repository
# root:   DATA=/path/with/rocstories_and_gpt1 bash docs/gpu_check.sh [OUT_DIR]
# DATA holds rocstories/ (the two Cloze Test CSVs) and gpt1/ (at least the vocabulary:
# encoder_bpe_40000.json, vocab_40000.bpe); without it steps 3 and 5 are skipped.
# Every figure goes to OUT_DIR/*.txt; copy them into docs/performance.md ("GPU").
set -u
out=${1:-${OUT:-/tmp/gpu_check}}
mkdir -p "$out"
export PYTHONPATH=$PWD TF_CPP_MIN_LOG_LEVEL=3
data=${DATA:-}
log() { echo "=== $* ($(date +%T))" | tee -a "$out/summary.txt"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1
python -c "import tensorflow as tf; print(tf.__version__, tf.config.list_physical_devices('GPU'))" \
    >> "$out/gpu.txt" 2>&1

# 1-2. The bench, 8 x 2 x 77 and 32 x 2 x 77 (the original's 4 towers), float32 and bfloat16.
for ngpu in 1 4; do
  for dt in float32 bfloat16; do
    log "bench n_gpu=$ngpu $dt"
    timeout 240 python -m finetune_lm.bench --device gpu --n_gpu $ngpu --compute_dtype $dt \
        --steps 5 --warmup 1 > "$out/bench_${ngpu}_${dt}.txt" 2>&1
    grep -E "^(step_s|fraction_of_matmul|matmul_flops|peak_memory_bytes|first_step_s|loss):" \
        "$out/bench_${ngpu}_${dt}.txt" | tee -a "$out/summary.txt"
  done
done

# 3. A seeded 2-epoch tiny ROCStories run, twice: byte-identical on the GPU?
tiny() {
  python train.py --dataset rocstories --n_transfer -1 --n_layer 2 --n_embd 32 --n_head 4 \
      --n_ctx 24 --desc tiny --data_dir "$data/rocstories" --params_dir "$data/gpt1" \
      --log_dir "$1/log" --save_dir "$1/save" --submission_dir "$1/submission" --n_iter 2 \
      --submit --cache_dir "" --seed 42 > "$1/stdout" 2>&1
}
if [ -n "$data" ]; then
  for r in a b; do log "tiny run $r"; rm -rf "$out/tiny_$r"; mkdir -p "$out/tiny_$r"; tiny "$out/tiny_$r"; done
  python - "$out/tiny_a" "$out/tiny_b" <<'EOF' | tee -a "$out/summary.txt"
import json, os, sys
import joblib, numpy as np
a, b = sys.argv[1:]
log = lambda d: [{k: v for k, v in json.loads(l).items() if k != "time"}
                 for l in open(os.path.join(d, "log/tiny.jsonl"))]
print("tiny: log values equal:", log(a)[1:] == log(b)[1:])
pa, pb = (joblib.load(os.path.join(d, "save/tiny/best_params.jl")) for d in (a, b))
print("tiny: best_params equal:", all(np.array_equal(x, y) for x, y in zip(pa, pb)))
s = [open(os.path.join(d, "submission/ROCStories.tsv")).read() for d in (a, b)]
print("tiny: submission equal:", s[0] == s[1])
EOF
fi

# 4. 4 towers on one GPU against the CPU's update (tiny model, 3 updates): round-off only.
cat > "$out/towers.py" <<'EOF'
import sys
import numpy as np
from finetune_lm import bench
dev, path = sys.argv[1], sys.argv[2]
args = bench.build_parser().parse_args(["--device", dev, "--n_gpu", "4", "--n_batch", "2",
    "--n_layer", "2", "--n_embd", "32", "--n_head", "4", "--n_vocab", "100", "--n_ctx", "16"])
bench.configure(args)
import tensorflow as tf
tf.config.experimental.enable_op_determinism()
from finetune_lm.training import towers
from finetune_lm.training.objectives import FineTuning
hp = bench.make_hparams(args)
obj = FineTuning(hp)
state = towers.TrainState(towers.make_strategy(hp.n_gpu), hp, obj.param_shapes())
train = towers.mgpu_train(state, obj)
for s in range(3):
    train(*bench.synthetic_batch(hp, hp.n_batch_train, seed=s))
np.savez(path, *state.get_params())
EOF
log "4 towers: GPU vs CPU"
timeout 300 python "$out/towers.py" gpu "$out/towers_gpu.npz" > "$out/towers_gpu.txt" 2>&1
CUDA_VISIBLE_DEVICES= timeout 300 python "$out/towers.py" cpu "$out/towers_cpu.npz" > "$out/towers_cpu.txt" 2>&1
python - "$out" <<'EOF' | tee -a "$out/summary.txt"
import sys, numpy as np
g, c = (np.load("%s/towers_%s.npz" % (sys.argv[1], d)) for d in ("gpu", "cpu"))
d = max(float(np.max(np.abs(g[k] - c[k]))) for k in g.files)
print("towers: max |GPU - CPU| over the parameters after 3 updates: %.3g (round-off: < 1e-5)" % d)
EOF

# 5. A whole ROCStories-sized run on stand-in weights (full size, from scratch), 3 epochs,
#    timed end to end (goal: under 60 s).
if [ -n "$data" ]; then
  log "ROCStories-sized run, 3 epochs, stand-in weights"
  rm -rf "$out/full"; mkdir -p "$out/full"
  start=$(date +%s.%N)
  timeout 400 python train.py --dataset rocstories --n_transfer -1 --desc full \
      --data_dir "$data/rocstories" --params_dir "$data/gpt1" --log_dir "$out/full/log" \
      --save_dir "$out/full/save" --submission_dir "$out/full/submission" --n_iter 3 \
      --submit --cache_dir "" > "$out/full/stdout" 2>&1
  rc=$?
  echo "full run: rc=$rc, $(python -c "import time; print('%.1f' % (time.time() - $start))") s end to end" \
      | tee -a "$out/summary.txt"
fi
log done
