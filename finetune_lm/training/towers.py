"""Towers across devices and machines: the original's mgpu_train / average_grads /
mgpu_predict, on tf.distribute.

What a tower computes is its objective's (training/objectives.py: fine-tuning or the
language model alone); the step below is the same for both.

`--n_gpu N` means N towers of `n_batch` examples per update, whatever devices exist.
The strategy has R replicas (devices) with R dividing N; each replica runs its
N / R towers one after another, sums their gradients, and `average_grads` takes
the cross-replica mean over all N towers. Tower i always gets examples
i*n_batch .. (i+1)*n_batch - 1 and dropout draws seeded by (seed, update, i), so
the update does not depend on the placement beyond float round-off.
"""

import collections
import functools
import json
import os

import numpy as np
import tensorflow as tf

from finetune_lm.model import heads
from finetune_lm.model.ops import init_value
from finetune_lm.training.opt import adam
from finetune_lm.util.errors import UserError

_SEED_SALT = 0x5EED  # keeps dropout seeds apart from other uses of --seed

# What one update (mgpu_train's function) returns: loss, the mean over the towers of
# what the objective reports; outputs, the objective's per-example outputs of all towers
# in example order (fine-tuning: (clf_logits, clf_losses); the LM alone: ()); grad_norm,
# the global norm before clipping; lr, the learning rate of the update.
StepOutput = collections.namedtuple("StepOutput", ["loss", "outputs", "grad_norm", "lr"])

# What mgpu_predict's function returns: logits [N, n_logits] and losses [N].
Predictions = collections.namedtuple("Predictions", ["logits", "losses"])


def split_cpu(n):
    """Split the CPU into n logical devices (stand-ins for GPUs) before TF runs ops; a
    second run in the same process with the same split is fine, another is refused."""
    if n and n > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
        except RuntimeError:
            have = len(tf.config.list_logical_devices("CPU"))
            if have != n:
                raise UserError("--cpu_devices %d: this process already split the CPU into %d "
                                "devices" % (n, have)) from None


def multi_worker():
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return sum(len(v) for k, v in cluster.items() if k in ("chief", "worker")) > 1


def make_strategy(n_gpu, max_devices=None):
    """MultiWorkerMirroredStrategy under a multi-worker TF_CONFIG, else MirroredStrategy
    over the local GPUs (or logical CPUs), as many as divide n_gpu."""
    if multi_worker():
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        if n_gpu % strategy.num_replicas_in_sync:
            raise UserError("--n_gpu %d towers cannot be split over %d replicas (TF_CONFIG); "
                            "expected a multiple" % (n_gpu, strategy.num_replicas_in_sync))
        return strategy
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    if max_devices:
        devices = devices[:max_devices]
    n = max(d for d in range(1, min(n_gpu, len(devices)) + 1) if n_gpu % d == 0)
    if n == 1:
        # The single-device code path: the same step, with no mirroring to do.
        with tf.device(devices[0]):
            return tf.distribute.get_strategy()
    # NCCL all-reduce exists only between GPUs.
    ops = None if gpus else tf.distribute.ReductionToOneDevice()
    return tf.distribute.MirroredStrategy(devices[:n], cross_device_ops=ops)


def is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())


class TrainState:
    """Parameters (in checkpoint order), Adam slots and the update count, created in
    the strategy's scope. Replicas apply identical updates, so only the first
    replica's assignment is kept (ONLY_FIRST_REPLICA) and mirrored to the others."""

    def __init__(self, strategy, hp, shapes, seed_arrays=(), slots=True):
        """shapes: {name: shape} of the variables (an objective's param_shapes());
        seed_arrays: the first values (transferred weights), the rest initialised;
        slots=False: the parameters alone, not trainable (what mgpu_predict reads: a
        fine-tuned model's predictions, training/model.py)."""
        self.strategy, self.hp = strategy, hp
        shapes = self._shapes = shapes
        agg = tf.VariableAggregation.ONLY_FIRST_REPLICA
        with strategy.scope():
            self.params = collections.OrderedDict()
            for i, (name, shape) in enumerate(shapes.items()):
                value = seed_arrays[i] if i < len(seed_arrays) else init_value(name, shape, hp.seed)
                self.params[name] = tf.Variable(np.asarray(value, np.float32).reshape(shape),
                                                name=name, aggregation=agg, trainable=slots)
            if not slots:
                return
            zeros = lambda name: tf.Variable(tf.zeros(shapes[name[7:]]), name=name,
                                             trainable=False, aggregation=agg)
            self.m = [zeros("adam/m/" + n) for n in shapes]
            self.v = [zeros("adam/v/" + n) for n in shapes]
            self.t = tf.Variable(0.0, name="adam/t", trainable=False, aggregation=agg)

    @property
    def variables(self):
        return list(self.params.values())

    def get_params(self):
        """Numpy arrays in checkpoint order (the list best_params.jl holds)."""
        return [v.numpy() for v in self.variables]

    def params_shapes(self):
        return self._shapes

    def set_params(self, arrays):
        for v, a in zip(self.variables, arrays):
            v.assign(np.asarray(a, np.float32).reshape(v.shape))


def tower_rng(seed, update, n_gpu, tower):
    """Seed of tower `tower`'s dropout draws in update `update` (from 0)."""
    return tf.stack([tf.constant(seed, tf.int64) * 65536 + _SEED_SALT,
                     tf.cast(update, tf.int64) * n_gpu + tf.cast(tower, tf.int64)])


def average_grads(grads, n_towers):
    """Mean over all towers of `grads` (this replica's sum over its own towers)."""
    grads = [tf.convert_to_tensor(g) for g in grads]  # IndexedSlices from the gathers
    ctx = tf.distribute.get_replica_context()
    total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    return [g / n_towers for g in total]


def _slices(strategy, arrays, per_replica):
    """Replica r gets rows r*per_replica .. (r+1)*per_replica - 1 of each array."""
    def fn(ctx):
        r = ctx.replica_id_in_sync_group
        return tuple(tf.constant(a[r * per_replica:(r + 1) * per_replica]) for a in arrays)
    return strategy.experimental_distribute_values_from_function(fn)


def _single(strategy):
    """True for the default (no-op) strategy make_strategy returns for one device."""
    return strategy.num_replicas_in_sync == 1 and not isinstance(
        strategy, (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy))


def _loss_scale(hp):
    """Static loss scale: hp.loss_scale, else 2**12 with float16 matmuls, else 1."""
    if hp.loss_scale:
        return float(hp.loss_scale)
    return 4096.0 if hp.compute_dtype == "float16" else 1.0


def _local(strategy, value):
    return strategy.experimental_local_results(value)[0]


def mgpu_train(state, objective):
    """A function (*batch) -> StepOutput(loss, outputs, grad_norm, lr) doing one update on a
    batch of n_gpu * n_batch examples: `objective`'s towers, average_grads, Adam. loss is the
    mean over the towers of what the objective reports (objective.reported_loss);
    outputs are its per-example outputs of all towers, in example order (fine-tuning:
    clf logits, clf losses; none for the LM).

    On one replica (no mirroring) the whole update, towers and Adam, is one
    tf.function, compiled by XLA as one program with hp.xla (Adam's elementwise
    work fuses into a few loops); across replicas each tower's forward+backward is
    compiled (hp.xla) and the all-reduce and Adam run around it."""
    hp, strategy = state.hp, state.strategy
    n_rep = strategy.num_replicas_in_sync
    k, nb = hp.n_gpu // n_rep, hp.n_batch
    variables = state.variables
    single = _single(strategy)
    scale = _loss_scale(hp)
    out_shapes = objective.output_shapes()

    def tower(batch, rng):
        with tf.GradientTape() as tape:
            loss, outputs = objective.tower(state.params, batch, rng)
            scaled = loss * scale if scale != 1 else loss
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(scaled, variables)]  # dense
        if scale != 1:
            grads = [g / scale for g in grads]
        return grads, objective.reported_loss(loss, outputs), outputs

    if hp.xla and not single:
        tower = tf.function(tower, jit_compile=True, autograph=False)

    def towers_grads(batch, first):
        """This replica's k towers one after another, their gradients and losses summed
        in tower order. Several towers run as a while loop, not k unrolled copies, so one
        tower's activations are alive at a time and XLA compiles the tower once."""
        update = tf.cast(state.t, tf.int64)
        # [k, n_batch, ...]: tower j's rows keep a static shape under a loop index.
        parts = [tf.reshape(a, [k, nb] + a.shape.as_list()[1:]) for a in batch]

        def one(j):
            rng = tower_rng(hp.seed, update, hp.n_gpu, first + tf.cast(j, tf.int64))
            return tower([a[j] for a in parts], rng)

        if k == 1:
            return one(0)

        def body(j, grads, loss, outputs):
            g, l, o = one(j)
            return (j + 1, [a + b for a, b in zip(grads, g)], loss + l,
                    [acc.write(j, x) for acc, x in zip(outputs, o)])

        _, grads, loss, outputs = tf.while_loop(
            lambda j, *_: j < k, body,
            (tf.constant(0), [tf.zeros_like(v) for v in variables], tf.constant(0.0),
             [tf.TensorArray(tf.float32, size=k, element_shape=[nb] + s) for s in out_shapes]))
        return grads, loss, [o.concat() for o in outputs]

    def replica_step(*batch):
        ctx = tf.distribute.get_replica_context()
        first = tf.cast(ctx.replica_id_in_sync_group, tf.int64) * k
        grads, loss, outputs = towers_grads(batch, first)
        grads = average_grads(grads, hp.n_gpu)
        loss = ctx.all_reduce(tf.distribute.ReduceOp.SUM, loss) / hp.n_gpu
        gnorm, lr = adam(variables, grads, state.m, state.v, state.t, hp)
        outputs = [ctx.all_gather(o, axis=0) for o in outputs]  # [n_gpu * n_batch, ...]
        return (loss, *outputs, gnorm, lr)

    if single and hp.xla:
        # The whole update as one XLA program. Called without strategy.run: the default
        # replica context's all-reduce and all-gather are identities.
        step = tf.function(replica_step, jit_compile=True, autograph=False)
    else:
        @functools.partial(tf.function, autograph=False)
        def step(inputs):
            return strategy.run(replica_step, args=inputs)

    def train(*batch):
        if len(batch[0]) != hp.n_batch_train:
            raise ValueError("the batch has %d examples; expected n_batch * n_gpu = %d"
                             % (len(batch[0]), hp.n_batch_train))
        if single and hp.xla:
            out = [o.numpy() for o in step(*(tf.convert_to_tensor(a) for a in batch))]
        else:
            out = [_local(strategy, o).numpy() for o in step(_slices(strategy, batch, k * nb))]
        return StepOutput(out[0], tuple(out[1:-2]), out[-2], out[-1])

    return train


def mgpu_predict(state, objective, n_batch_eval=None):
    """A function (X, M, Y) -> Predictions(logits, losses) over any number of examples,
    in batches of n_batch_eval (default n_gpu * n_batch) split over the replicas.
    The last partial batch is padded with copies of its last example, so the
    function is traced once."""
    hp, strategy = state.hp, state.strategy
    n_rep = strategy.num_replicas_in_sync
    n_eval = n_batch_eval or hp.n_batch_train
    n_eval = -(-n_eval // n_rep) * n_rep
    single = _single(strategy)

    def forward(*batch):
        return objective.predict(state.params, batch)

    if single:
        # One device: one compiled program, no distribution wrappers.
        fn = tf.function(forward, jit_compile=bool(hp.xla), autograph=False)

        def step(inputs):
            return fn(*inputs)
    else:
        if hp.xla:
            # The forward pass alone is compiled: with the all-gather inside, XLA placed
            # replica 1's call on device 0, away from its variables (as mgpu_train's tower).
            forward = tf.function(forward, jit_compile=True, autograph=False)

        def replica_predict(*batch):
            ctx = tf.distribute.get_replica_context()
            return tuple(ctx.all_gather(o, axis=0) for o in forward(*batch))

        @functools.partial(tf.function, autograph=False)
        def step(inputs):
            return strategy.run(replica_predict, args=inputs)

    def predict(X, M, Y=None):
        if Y is None:  # no labels (a test set): any targets of the right shape
            Y = (np.zeros((len(X), hp.n_out), np.float32) if hp.soft_targets
                 else np.zeros(len(X), np.float32 if heads.regression(hp) else np.int32))
        logits, losses = [], []
        for i in range(0, len(X), n_eval):
            n = min(n_eval, len(X) - i)
            pad = lambda a: np.concatenate([a[i:i + n]] + [a[i + n - 1:i + n]] * (n_eval - n), 0)
            out = step(_slices(strategy, (pad(X), pad(M), pad(Y)), n_eval // n_rep))
            logits.append(_local(strategy, out[0]).numpy()[:n])
            losses.append(_local(strategy, out[1]).numpy()[:n])
        return Predictions(np.concatenate(logits, 0), np.concatenate(losses, 0))

    return predict
