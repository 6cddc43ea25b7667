"""Weights from the Hugging Face checkpoint to the released format.

    python -m finetune_lm.convert from-hf DIR --out params/

DIR holds `model.safetensors` (and `config.json`, `vocab.json`, `merges.txt`) in the
`openai-community/openai-gpt` layout, as transformers' OpenAIGPTModel,
OpenAIGPTLMHeadModel or OpenAIGPTDoubleHeadsModel save it (`transformer.` prefix or
not). Read with the safetensors package's NumPy API: no torch, no transformers. The
output is the released format (params_shapes.json, params_0..9.npy, and the two
vocabulary files when DIR has them), written as the original's files were (see
finetune_lm/lm/hf.py). When every weight file then has the release's upstream git blob
id, the folder is the release and is used as such; otherwise it gets its own
manifest.json, and the weights are not verified against the release: the output says
which, in one line. The folder is read by the one loader (finetune_lm/lm/loader.py). Token rows beyond vocab.json's entries (the three special tokens
of a fine-tuned export) are not part of the released format and are left out.
"""

import os
import shutil
import sys

from finetune_lm import flags
from finetune_lm.lm import hf, loader
from finetune_lm.model import release
from finetune_lm.model.variables import n_transformer
from finetune_lm.util.errors import UserError, run_command
from finetune_lm.util.files import check_writable, named_os_error


PROG = "python -m finetune_lm.convert"


def build_parser():
    p = flags.parser(PROG, flags.summary(__doc__))
    sub = p.add_subparsers(dest="command")
    f = sub.add_parser("from-hf", help="a Hugging Face GPT-1 folder to the released format")
    f.add_argument("dir", help="folder with model.safetensors (and config.json, vocab.json, "
                               "merges.txt)")
    f.add_argument("--out", required=True, help="the folder to write (created; an existing "
                                                "folder with weights is refused without --force)")
    f.add_argument("--force", action="store_true", help="replace the weights in --out")
    return p


def released(folder):
    """(config, the released format's arrays: positions, tokens, the blocks, and the
    loader's extras: "rows" and "head", what the folder holds that the format has no
    place for) of a Hugging Face folder, through lm/loader.py."""
    extras = {}
    config, arrays = loader.load(folder, extras=extras)
    we = arrays[0]  # tokens, any special rows (a run's export), positions
    layers = arrays[1:n_transformer(config.n_layer)]  # a run's export: its head left out
    return (config, [we[config.n_vocab + config.n_special:], we[:config.n_vocab]] + layers,
            extras)


def from_hf(folder, out, force=False, log=print):
    """Convert; returns (is_release, the loader's config)."""
    if not os.path.isdir(folder):
        raise UserError("%s is not a folder: expected a Hugging Face GPT-1 folder (%s, %s)"
                        % (folder, hf.SAFETENSORS, hf.CONFIG))
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError("--out %s is a file; expected a folder to write" % out)
    # Before the weights are read: a parent that is a file, or that this user cannot write.
    check_writable(os.path.dirname(os.path.normpath(out)) or ".", "--out %s: its parent" % out)
    if (os.path.isdir(out) and not force and any(
            os.path.exists(os.path.join(out, n)) for n in release.FILES)):
        raise UserError("--out %s already holds weights or vocabulary files; pass --force to "
                        "replace them, or another --out" % out)
    if not os.path.isfile(os.path.join(folder, hf.SAFETENSORS)):
        raise UserError("%s has no %s: expected a Hugging Face GPT-1 folder (%s, config.json)"
                        % (folder, hf.SAFETENSORS, hf.SAFETENSORS))
    config, arrays, extras = released(folder)
    vocab, merges = hf.hf_vocab_texts(folder)
    model = {"n_vocab": int(arrays[1].shape[0]), "n_ctx": int(arrays[0].shape[0]),
             "n_embd": config.n_embd, "n_head": config.n_head, "n_layer": config.n_layer,
             "afn": config.afn}
    note = ("converted by `python -m finetune_lm.convert from-hf` from %s; not verified against "
            "the release" % os.path.abspath(os.path.join(folder, hf.SAFETENSORS)))
    parent = os.path.dirname(os.path.normpath(out)) or "."
    tmp = os.path.join(parent, ".%s.tmp-%d" % (os.path.basename(os.path.normpath(out)),
                                               os.getpid()))
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    try:
        with named_os_error(out):
            is_release, ids = hf.write_released(tmp, arrays, model, vocab, merges, note)
        os.makedirs(out, exist_ok=True)
        for name in os.listdir(tmp):
            os.replace(os.path.join(tmp, name), os.path.join(out, name))
        if is_release and os.path.exists(os.path.join(out, "manifest.json")):
            os.remove(os.path.join(out, "manifest.json"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log("convert: %d arrays (positions %s, tokens %s, %d layers of width %d) from %s to %s"
        % (len(arrays), list(arrays[0].shape), list(arrays[1].shape), config.n_layer,
           config.n_embd, os.path.join(folder, hf.SAFETENSORS), out))
    if extras["rows"]:
        log("convert: the %d token rows after vocab.json's %d entries (added tokens: the "
            "special tokens of a fine-tuned export) are not part of the released format: "
            "left out" % (extras["rows"], arrays[1].shape[0]))
    if extras["head"]:
        log("convert: the task head (%s) is not part of the released format: left out"
            % ", ".join(extras["head"]))
    vocab_ok = [n for n in (release.ENCODER_FILE, release.BPE_FILE)
                if n in ids and ids[n] == release.BLOB_IDS[n]]
    if vocab is not None or merges is not None:
        log("convert: vocabulary files %s (%s)" % (
            ", ".join(n for n in (release.ENCODER_FILE, release.BPE_FILE) if n in ids),
            "the release's, by their git blob ids" if len(vocab_ok) == 2 else
            "not byte for byte the release's"))
    if is_release:
        log("convert: every weight file has the release's git blob id: %s is the release "
            "(verified)" % out)
    else:
        differ = [n for n in [release.SHAPES_FILE] + list(release.SHARD_FILES)
                  if ids[n] != release.BLOB_IDS[n]]
        log("convert: NOT verified against the release: %s differ%s from the release's git "
            "blob ids; %s lists the files' sizes and SHA-256, so train.py, sample and "
            "perplexity load the folder as weights that are not the release"
            % (", ".join(differ[:3]) + (" ..." if len(differ) > 3 else ""),
               "s" if len(differ) == 1 else "", os.path.join(out, "manifest.json")))
    return is_release, config


def run(args):
    if args.command != "from-hf":
        raise UserError("expected a command: from-hf DIR --out FOLDER")
    from_hf(args.dir, args.out, args.force)


def main(argv=None):
    # No TensorFlow: one `error:` line on bad input or a failed write (a full disk: the
    # temporary folder is removed, --out left as it was).
    return run_command(run, build_parser().parse_args(argv), tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
