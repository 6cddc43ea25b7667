"""A fine-tuning job from its settings (an argparse Namespace, as train.py parses it):
the checks that need no slow work (`check_args`), the encoded task (`prepare`) and the
whole run (`run`: the loop, the checkpoints, the submission and the analysis).
train.py and reproduce.py are its command lines; TensorFlow is imported only when a
run starts, so that every check answers before it."""

import json
import os
import random
import sys

import numpy as np

from finetune_lm.data.task_download import data_source, missing_data
from finetune_lm.data.text import load_encoder
from finetune_lm.lm.release_files import missing_inputs
from finetune_lm.lm.loader import folder_sizes as weights_sizes
from finetune_lm.lm.weights import verify_params_dir
from finetune_lm.model import release
from finetune_lm.tasks import dataset_names, get_task, task_for_args
from finetune_lm.training import checks
from finetune_lm.training.checkpoint import Resume, resumed_line
from finetune_lm.util.errors import UserError
from finetune_lm.util.files import RunLock, check_writable, lock_name


def check_args(args):
    """Every check that needs no slow work (encoding, compilation, training): the flags,
    the files the run reads, the folders it writes, the weights."""
    if args.dataset is None and not getattr(args, "task_file", None):
        raise UserError("--dataset is required; expected one of: %s" % ", ".join(dataset_names()))
    task = task_for_args(args)  # your own files: their headers and labels checked here
    checks.check(args)
    if args.analysis and not args.submit:
        raise UserError("--analysis needs --submit: it scores the test predictions that "
                        "--submit writes; add --submit")
    args.desc = args.desc or args.dataset
    args.data_dir = args.data_dir or os.path.join("datasets", task.folder)
    checks.vocabulary_paths(args)
    if os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        raise UserError("--data_dir %s is a file; expected the folder of the %s files"
                        % (args.data_dir, args.dataset))
    problem = missing_inputs(args.data_dir, data_source(args.dataset, args.data_dir,
                                                        task.source),
                             args.params_dir, args.n_transfer, args.encoder_path, args.bpe_path)
    problem = problem or missing_data(args.dataset, args.data_dir)
    if problem:
        raise UserError(problem)
    check_writable(args.log_dir, "--log_dir")
    check_writable(args.save_dir, "--save_dir")
    if args.submit:
        check_writable(args.submission_dir, "--submission_dir")
    verify_params_dir(args.params_dir, args.n_transfer, getattr(args, "unverified_weights", False))
    resolve_sizes(args)
    return args


GPT1_SIZES = {"n_ctx": release.N_POSITIONS, "n_embd": 768, "n_head": 12, "n_layer": 12}


def resolve_sizes(args):
    """The model's sizes from the weights that hold them (params_shapes.json, the
    folder's manifest.json): a flag left out takes the folder's value, a flag that
    contradicts it is refused naming both; --n_transfer defaults to the folder's layers.
    Without weights (--n_transfer -1) the flags' defaults are GPT-1's."""
    found = {} if args.n_transfer == -1 else weights_sizes(args.params_dir)
    where = "the weights in %s" % args.params_dir
    for flag, what in (("n_embd", "width"), ("n_head", "heads")):
        given, have = getattr(args, flag), found.get(flag)
        if given is not None and have is not None and given != have:
            raise UserError("--%s %d does not fit %s, whose %s is %d; leave --%s out to take it "
                            "from them" % (flag, given, where, what, have, flag))
        setattr(args, flag, given if given is not None else have or GPT1_SIZES[flag])
    n_layers = found.get("n_layer")
    if args.n_layer is None:
        args.n_layer = n_layers or GPT1_SIZES["n_layer"]
    if args.n_transfer is None:
        args.n_transfer = min(n_layers, args.n_layer) if n_layers else 12
    if n_layers is not None and args.n_transfer > n_layers:
        raise UserError("--n_transfer %d is more than the %d layers of %s"
                        % (args.n_transfer, n_layers, where))
    if not -1 <= args.n_transfer <= args.n_layer:
        raise UserError("--n_transfer %d: expected -1 (load nothing) or 0..--n_layer (%d)"
                        % (args.n_transfer, args.n_layer))
    if found and found["n_vocab"] != len(load_encoder(args.encoder_path)):
        raise UserError("the weights in %s have %d token rows; the vocabulary %s has %d entries: "
                        "expected the same" % (args.params_dir, found["n_vocab"], args.encoder_path,
                                               len(load_encoder(args.encoder_path))))
    positions = found.get("n_ctx")
    if args.n_ctx is None:
        args.n_ctx = min(GPT1_SIZES["n_ctx"], positions or GPT1_SIZES["n_ctx"])
    elif positions is not None and args.n_ctx > positions:
        raise UserError("--n_ctx %d is more than the %d positions of %s; expected at most %d "
                        "(or --n_transfer -1 to train from scratch)"
                        % (args.n_ctx, positions, where, positions))
    if args.n_ctx < 8:
        raise UserError("--n_ctx %d: expected at least 8" % args.n_ctx)
    checks.check(args)  # the sizes now known: the width against the heads


def prepare(args, verbose=True, cache=None):
    """Read and encode the task; returns (hp, data): data maps each split to its
    data.inputs.Encoded, hp holds the sizes the data fixes (n_ctx, the vocabulary, the
    head's shape, the number of updates).

    `cache` (a dict) keeps the encoded inputs between runs in one process that differ
    only in flags the encoding does not read (finetune_lm.reproduce: the seed)."""
    from finetune_lm.data import inputs  # TensorFlow-free, but heavy: only when run
    task = get_task(args.dataset)
    key = (args.dataset, os.path.abspath(args.data_dir), os.path.abspath(args.encoder_path),
           os.path.abspath(args.bpe_path), args.n_ctx)
    if cache is not None and key in cache:
        n_vocab, n_ctx, specials, data = cache[key]
    else:
        splits = task.load(args.data_dir)
        inputs.check_splits(task, splits, args.data_dir)
        check_batch(args, task, len(splits["train"]))  # before the slow encoding
        n_vocab, n_ctx, specials, data = inputs.prepare_task(
            task, splits, args.encoder_path, args.bpe_path, args.n_ctx,
            cache_dir=getattr(args, "cache_dir", None) or None, verbose=verbose)
        if cache is not None:
            cache[key] = (n_vocab, n_ctx, specials, data)
    n_per_update = args.n_batch * args.n_gpu
    hp = checks.hparams(
        args, n_vocab=n_vocab, n_special=len(specials), n_ctx=n_ctx, clf_token=specials[2],
        head=task.head, n_seq=task.n_seq, n_out=task.n_out, soft_targets=task.soft_targets,
        label_names=tuple(task.label_names) if task.label_names else None,
        n_updates_total=max(1, (len(data["train"]) // n_per_update) * args.n_iter))
    return hp, data


def check_batch(args, task, n_train):
    """At least one update per epoch."""
    n_per_update = args.n_batch * args.n_gpu
    if n_train < n_per_update:
        raise UserError("--n_batch %d x --n_gpu %d = %d examples per update, but the training "
                        "set of %s has %d: no update would run; expected at most %d"
                        % (args.n_batch, args.n_gpu, n_per_update, task.name, n_train, n_train))


def args_dict(args):
    """The run's arguments as the log and the checkpoint record them (JSON values)."""
    return json.loads(json.dumps(vars(args)))


def run_paths(args):
    run_dir = os.path.join(args.save_dir, args.desc)
    return {
        "log": os.path.join(args.log_dir, "%s.jsonl" % args.desc),
        "tensorboard": os.path.join(args.log_dir, args.desc),
        "run_dir": run_dir,
        "best": os.path.join(run_dir, "best_params.jl"),
        "model": os.path.join(run_dir, "model.json"),
        "results": os.path.join(run_dir, "results.json"),
        "checkpoint": os.path.join(run_dir, "checkpoint"),
        "submissions": {s.split: os.path.join(args.submission_dir, s.filename)
                        for s in get_task(args.dataset).submissions},
    }


def describe(args, task, hp, strategy, data, notes=()):
    """The run in a few lines, instead of the original's Namespace dump; notes: what the
    encoding cut or found empty (data.inputs.input_report)."""
    import tensorflow as tf
    from finetune_lm.training import towers
    sizes = ", ".join("%s %d" % (name, len(enc)) for name, enc in data.items())
    print("run %r: task %s (%s head, %d sequence%s per example), %s" % (
        args.desc, task.name, task.head, task.n_seq, "s" if task.n_seq > 1 else "", sizes))
    print("model: %d layers, width %d, %d heads, n_ctx %d (longest input; --n_ctx %d), "
          "vocabulary %d + %d; weights: %s" % (
              hp.n_layer, hp.n_embd, hp.n_head, hp.n_ctx, args.n_ctx, hp.n_vocab, hp.n_special,
              "none (--n_transfer -1)" if args.n_transfer == -1 else
              "%s, %d layers" % (args.params_dir, args.n_transfer)))
    n_rep = strategy.num_replicas_in_sync
    present = len(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU"))
    # Towers are spread evenly: with --n_gpu 4 on 3 GPUs, 2 of them run 2 towers each.
    unused = (" (%d of the %d devices present: --n_gpu %d towers are spread evenly)"
              % (n_rep, present, hp.n_gpu)) if 0 < n_rep < present and not \
        towers.multi_worker() else ""
    print("training: %d epochs x %d updates = %d updates of %d x %d examples, on %d device%s"
          "%s; log %s" % (args.n_iter, len(data["train"]) // hp.n_batch_train, hp.n_updates_total,
                          hp.n_gpu, hp.n_batch, n_rep, "s" if n_rep > 1 else "", unused,
                          os.path.join(args.log_dir, args.desc + ".jsonl")))
    if task.about:
        print("task: %s" % task.about)
    for note in notes:
        print("inputs: %s" % note)
    main = task.main_metric.name
    print("epoch updates tr_cost va_cost tr_%s va_%s" % (main, main))
    sys.stdout.flush()


def run(args, cache=None):
    """The whole fine-tuning job, holding the run's lock; returns a dict of the final
    figures. Resumes from `save_dir/<desc>/checkpoint/` when it exists (same arguments
    and data required), and does nothing but the analysis when that run already
    finished."""
    paths = run_paths(args)
    with RunLock(paths["run_dir"], "run %r (%s)" % (args.desc, paths["run_dir"]), lock_name()):
        return fine_tune(args, paths, cache)


def fine_tune(args, paths, cache=None):
    """Wiring only: the loop is training/loop.py with training/finetuning.py's hooks, the
    outputs training/analysis.py."""
    # Here, not at the top: TensorFlow's start-up is seconds that --help and every
    # check before the slow work need not wait for.
    import tensorflow as tf
    from finetune_lm.data.inputs import input_report
    from finetune_lm.lm import loader
    from finetune_lm.training import analysis, towers
    from finetune_lm.training.finetuning import FineTuneJob
    from finetune_lm.training.loop import Loop
    from finetune_lm.training.objectives import FineTuning
    from finetune_lm.util import malloc

    task = get_task(args.dataset)
    resume = Resume(paths["checkpoint"], args_dict(args))
    pointer = resume.pointer()  # before the slow encoding: other arguments are refused
    if pointer is not None and pointer["finished"]:
        resume.check_data(pointer, data_keys(task, args.data_dir))
        if not (args.submit and analysis.outputs_missing(paths)):
            return analysis.finished(task, args.desc, paths, pointer, args.submit, args.analysis)
        return submit_finished(args, paths, task, pointer, cache)

    towers.split_cpu(args.cpu_devices)
    random.seed(args.seed)
    np.random.seed(args.seed)
    tf.random.set_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    hp, data = prepare(args, cache=cache)
    if pointer is not None:
        resume.check_data(pointer, {name: enc.key for name, enc in data.items()})
    if hp.xla:
        malloc.map_large_blocks()  # large blocks back to the system when freed

    objective = FineTuning(hp)
    strategy = towers.make_strategy(hp.n_gpu)
    state = towers.TrainState(strategy, hp, objective.param_shapes(),
                              loader.transfer_arrays(args.params_dir, hp, args.n_transfer))
    ckpt, meta = resume.restore(state)
    chief = towers.is_chief(strategy)
    report, notes = input_report(data, args.n_ctx)
    describe(args, task, hp, strategy, data, notes)
    predict = towers.mgpu_predict(state, objective)
    job = FineTuneJob(task, hp, state, data, predict, ckpt, meta, paths, args_dict(args), chief,
                      inputs=report)
    loop = Loop(towers.mgpu_train(state, objective), job, args.n_iter, job.n_batches,
                args.save_every, paths["checkpoint"], meta and meta["n_updates"])
    start = (0, 0, 0) if meta is None else (meta["n_updates"], meta["epoch"], meta["batch"])
    if meta is not None:
        print(resumed_line(args.desc, meta, args.n_iter, paths["checkpoint"]))
    try:
        n_updates = loop.run(*start)
    finally:
        job.close()

    result = {"best_valid": job.best, "n_updates": n_updates}
    if args.submit:
        state.set_params(loader.load(paths["best"])[1])  # beside it, its model.json
        result.update(analysis.finish(task, hp, data, predict, paths, chief, args.analysis,
                                      desc=args.desc))
    if chief:
        ckpt.mark_finished()
    return result


def submit_finished(args, paths, task, pointer, cache=None):
    """A finished run given --submit whose submission (or results.json) is not there:
    the best parameters it kept (best_params.jl) predict the splits, as at the end of
    training; nothing is trained."""
    import tensorflow as tf
    from finetune_lm.lm import loader
    from finetune_lm.training import analysis, towers
    from finetune_lm.training.objectives import FineTuning
    if not os.path.isfile(paths["best"]):
        raise UserError("run %r finished without keeping %s (a run of an older finetune_lm "
                        "without --submit): delete %s to train again with --submit"
                        % (args.desc, paths["best"], paths["checkpoint"]))
    print("resume: run %r already finished (%d updates; %s); not retraining: the submission "
          "from its %s" % (args.desc, pointer["n_updates"], paths["checkpoint"], paths["best"]))
    towers.split_cpu(args.cpu_devices)
    tf.config.experimental.enable_op_determinism()
    hp, data = prepare(args, cache=cache)
    objective = FineTuning(hp)
    strategy = towers.make_strategy(hp.n_gpu)
    state = towers.TrainState(strategy, hp, objective.param_shapes())
    state.set_params(loader.load_params(paths["best"], state.params_shapes()))
    result = {"best_valid": pointer["best"], "n_updates": pointer["n_updates"],
              "already_finished": True}
    result.update(analysis.finish(task, hp, data, towers.mgpu_predict(state, objective), paths,
                                  towers.is_chief(strategy), args.analysis, desc=args.desc))
    return result


def data_keys(task, data_dir):
    """{split: split_key} of the task's files as they are now (no encoding)."""
    from finetune_lm.data.inputs import split_key  # with numpy and tqdm: only when needed
    return {name: split_key(task, split) for name, split in task.load(data_dir).items()}
