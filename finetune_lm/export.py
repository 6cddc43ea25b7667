"""Export a fine-tuned run (or pre-trained weights) for Hugging Face transformers or as a
TensorFlow SavedModel.

    python -m finetune_lm.export --run save/<desc> --to hf OUT
    python -m finetune_lm.export --run save/<desc> --to saved_model OUT
    python -m finetune_lm.export --params_dir params/ --to hf OUT

The formats, and what each holds, are training/exports.py's: hf, a folder transformers
4.x loads with `from_pretrained` and no flags (config.json, model.safetensors, the
tokenizer files, README.md; a task head transformers has no class for in
clf_head.safetensors), and saved_model, a tf.saved_model with a serving_default
signature over token ids that loads without this package. Every export holds
model.json, and lm/loader.py reads an export back (a run's export is the run again).
"""

import sys

from finetune_lm import flags
from finetune_lm.training import exports
from finetune_lm.util.errors import check_first, run_command

PROG = flags.EXPORT_PROG


def build_parser():
    return flags.export_parser(flags.summary(__doc__))


def load_source(args):
    """The training/model.Model of --run or --params_dir, without TensorFlow."""
    return exports.load(args.run, args.params_dir, args.encoder_path, args.bpe_path,
                        args.unverified_weights)


def check_out(args):
    exports.check_out(args.out, (args.run, args.params_dir))


def run(args, model):
    exports.write(model, args.out, args.to)
    what = ("run %s (%s)" % (args.run, model.task.name) if model.info is not None
            else "weights %s" % args.params_dir)
    print("export: %s to %s (%s)" % (what, args.out, "Hugging Face transformers: "
                                     "from_pretrained" if args.to == "hf" else
                                     "tf.saved_model, signature serving_default"))


def main(argv=None):
    args = build_parser().parse_args(argv)
    # load_source reads without TensorFlow: a bad run folder answers before it loads
    # (and --to hf never loads it).
    src, status = check_first(lambda a: check_out(a) or load_source(a), args)
    if status or args.to != "hf":
        return status or run_command(lambda a: run(a, src), args)
    return run_command(lambda a: run(a, src), args, tensorflow=False)  # no TensorFlow at all


if __name__ == "__main__":
    sys.exit(main())
