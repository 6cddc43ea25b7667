"""The Python API, for notebooks: the commands' work as functions (docs/python_api.md),
calling the library code the commands call (training/fine_tune.py, training/model.py,
training/examples.py, training/exports.py), the flags read by the commands' parsers
(flags.py).

    import finetune_lm
    lm = finetune_lm.load("params/")             # any weights folder, best_params.jl or run
    finetune_lm.generate(lm, "the weather today", length=20, seed=0)
    finetune_lm.score(lm, ["some text ."])       # per-token log-probabilities
    finetune_lm.fine_tune(dataset="rte", submit=True)    # train.py's arguments, by name
    run = finetune_lm.load("save/rte")
    finetune_lm.predict_rows(run, [{"sentence1": "...", "sentence2": "..."}])  # probabilities
    finetune_lm.export_model("save/rte", "out/rte-hf", to="hf")

Each function runs the code its command runs: fine_tune is train.py's check_args and
run on the same Namespace its flags give; predict_rows encodes rows as predict and training
encode them and scores them with the training evaluation's step; generate and score
are sample's and perplexity's engines. Bad input raises `finetune_lm.Error`
(util/errors.UserError) whose message is the command's `error:` line, without the
`error: ` prefix.
"""

import argparse

from finetune_lm.util.errors import UserError

Error = UserError

# predict_rows and export_model, not predict and export: finetune_lm.predict and
# finetune_lm.export are the commands' modules.
__all__ = ["Error", "Model", "load", "generate", "score", "fine_tune", "predict_rows",
           "export_model"]


def __getattr__(name):
    if name == "Model":
        from finetune_lm.training.model import Model
        return Model
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def _raising(parser):
    """parser, whose errors raise Error with the command's one-line message."""
    def error(message):
        raise Error("%s; see %s --help" % (message, parser.prog))
    parser.error = error
    return parser


def command_args(parser, argv, options):
    """The Namespace a command's parser gives for argv, then `options` by flag name
    (dest), each converted by its flag's type and checked against its choices, as the
    command line would be; an unknown name raises Error."""
    parser = _raising(parser)
    args = parser.parse_args(argv)
    actions = {a.dest: a for a in parser._actions if a.dest != "help"}
    for name, value in options.items():
        action = actions.get(name)
        if action is None:
            raise Error("unknown argument %r: expected one of %s's flags (%s)"
                        % (name, parser.prog, ", ".join(sorted(actions))))
        if value is not None and action.type is not None and not isinstance(value, bool) \
                and not isinstance(value, (list, tuple)):
            try:
                value = action.type(str(value) if action.type is not str else value)
            except (TypeError, ValueError):
                raise Error("argument --%s: invalid %s value: %r; see %s --help"
                            % (name, getattr(action.type, "__name__", "the flag's"), value,
                               parser.prog)) from None
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)) \
                and not isinstance(value, bool):
            raise Error("argument %s: expected True or False, got %r" % (name, value))
        if action.choices is not None and value not in action.choices:
            raise Error("argument --%s: invalid choice: %r (choose from %s); see %s --help"
                        % (name, value, ", ".join(map(repr, action.choices)), parser.prog))
        setattr(args, name, value)
    return args


def load(path, **options):
    """training/model.Model of a run's folder (model.json, best_params.jl), a best_params.jl,
    a folder in the released format or a Hugging Face GPT-1 folder. options: Model.load's
    (params_dir, encoder_path, bpe_path, n_batch, xla, n_layer, n_embd, n_head, afn)."""
    from finetune_lm.training.model import Model
    from finetune_lm.util.quiet import quiet
    quiet()
    return Model.load(path, **options)


def _model(model):
    return load(model) if isinstance(model, str) else model


def generate(model, prompt, length=100, n_samples=1, temperature=1.0, top_k=40, top_p=1.0,
             seed=0):
    """The texts of n_samples continuations of `prompt` (a list of strings): what
    `python -m finetune_lm.sample` prints for the same flags."""
    import sys
    from finetune_lm.training.checks import check_draw
    model = _model(model)
    check_draw(length, n_samples, temperature, top_k, top_p)
    _, texts = model.complete(prompt, length, n_samples, temperature, top_k, top_p, seed,
                              lambda m: print(m, file=sys.stderr))
    return texts


def score(model, texts, n_ctx=None, stride=None):
    """Per-token log-probabilities of each text: a list of float32 arrays, entry j the
    log-probability of the text's token j + 1 given those before it (in windows of n_ctx
    tokens every `stride`, as perplexity scores a file; its mean loss is the negated
    mean of these)."""
    model = _model(model)
    if isinstance(texts, str):
        raise Error("texts: a string; expected a list of texts")
    n_ctx = n_ctx or model.hp.n_ctx
    if not 2 <= n_ctx <= model.hp.n_ctx:
        raise Error("--n_ctx %d: expected 2..%d, the model's positions" % (n_ctx, model.hp.n_ctx))
    stride = n_ctx - 1 if stride is None else stride
    if not 1 <= stride < n_ctx:
        raise Error("--stride %d: expected 1..%d (--n_ctx - 1: each window's first "
                    "token is context only)" % (stride, n_ctx - 1))
    return [model.token_logprobs(ids, n_ctx, stride)
            for ids in model.encoder.encode(list(texts))]


def fine_tune(**flags):
    """Fine-tune a task: train.py with these flags, by name (`dataset="rte"`,
    `n_iter=3`, `submit=True`, `xla=False` for --no_xla ...), the same checks, the same
    run, log, best_params.jl and submission files; returns the run's figures (a dict:
    best_valid, n_updates, and with submit the results' figures)."""
    from finetune_lm.flags import fine_tuning_parser
    from finetune_lm.training.fine_tune import check_args, run
    from finetune_lm.util.quiet import quiet
    args = command_args(fine_tuning_parser(), [], flags)
    quiet()
    check_args(args)
    return run(args)


def predict_rows(model, rows, logits=False):
    """Class (or option) probabilities [len(rows), n] of rows, dicts of the task's fields
    (those predict's --input names): encoded as training encodes and scored by the
    training evaluation's step, the numbers `python -m finetune_lm.predict` writes.
    logits=True: the logits instead."""
    from finetune_lm.training.examples import encode, rows_split
    from finetune_lm.training.runs import softmax
    model = _model(model)
    if model.info is None:
        raise Error("%s holds a language model, not a fine-tuned classifier: expected a run's "
                    "folder (model.json, best_params.jl)" % model.where)
    task = model.task
    split, _ = rows_split(task, list(rows))
    enc, _ = encode(task, split, model.info, *model.vocabulary)
    out = model.classify(enc)
    return out if logits else softmax(out)


def export_model(source, out, to="hf", **flags):
    """`python -m finetune_lm.export`: source a run's folder (or, params=True, a weights
    folder in the released format), to "hf" or "saved_model"; flags: export's others
    (encoder_path, bpe_path, unverified_weights)."""
    from finetune_lm.flags import export_parser
    from finetune_lm.training import exports
    params = flags.pop("params", False)
    argv = ["--to", to, out, "--params_dir" if params else "--run", source]
    args = command_args(export_parser(), argv, flags)
    exports.check_out(args.out, (args.run, args.params_dir))
    model = exports.load(args.run, args.params_dir, args.encoder_path, args.bpe_path,
                         args.unverified_weights)
    exports.write(model, args.out, args.to)
    return out
