"""The released GPT-1 files (the upstream ``model/`` folder): fetch them into a folder,
verified by git blob id, and say what a run lacks among them.

Every file is written to ``<name>.part`` first, checked against its git blob id
(``release.BLOB_IDS``) and only then renamed to its final name, so a partial or
corrupt file never sits under the name that train.py loads.  A ``.part`` left by
an interrupted run is resumed with an HTTP Range request on the next run.
"""

import os

from finetune_lm.data import task_download
from finetune_lm.lm.hf import is_hf_dir
from finetune_lm.lm.weights import WEIGHT_FILES, read_manifest
from finetune_lm.model import release
from finetune_lm.util.errors import UserError
from finetune_lm.util.fetch import DEFAULT_TIMEOUT, fetch, one_line, url_for

DEFAULT_DEST = "params"


def missing_files(dest, files=None):
    """Names in `files` that are not present in `dest`. By default: the 13 release files;
    for a folder carrying its own manifest.json (weights that are not the release), the
    weight files and whatever else the manifest lists (the vocabulary may live
    elsewhere: --encoder_path, --bpe_path)."""
    if files is None:
        listed = read_manifest(dest) if os.path.isdir(dest) else None
        if listed is None:
            files = release.FILES
        else:
            files = [n for n in release.FILES if n in WEIGHT_FILES or n in listed]
            files += sorted(n for n in listed if n not in files)
    return [name for name in files if not os.path.isfile(os.path.join(dest, name))]


def fetch_command(dest, names):
    """The command that fetches `names` (release files) into `dest`: only the vocabulary
    files when that is all that is missing, else the whole release (466 MB)."""
    vocab = [release.ENCODER_FILE, release.BPE_FILE]
    if names and all(n in vocab for n in names):
        return "%s --files %s --dest %s" % (release.DOWNLOAD_COMMAND, " ".join(names), dest)
    return "%s --dest %s" % (release.DOWNLOAD_COMMAND, dest)


def missing_inputs(data_dir, data_source, params_dir, n_transfer, encoder_path, bpe_path):
    """What a run lacks among its weights and vocabulary, as one message (None when
    nothing is missing); with the data missing too, the message says both. (Missing
    data alone is left to the task's loader, which names each file.)"""
    needed = [] if n_transfer == -1 or is_hf_dir(params_dir) else list(WEIGHT_FILES)
    missing = [n for n in missing_files(params_dir, needed)]
    elsewhere = []
    for flag, path, name in (("--encoder_path", encoder_path, release.ENCODER_FILE),
                             ("--bpe_path", bpe_path, release.BPE_FILE)):
        if os.path.isfile(path):
            continue
        if os.path.normpath(path) == os.path.normpath(os.path.join(params_dir, name)):
            missing.append(name)
        else:
            elsewhere.append("%s %s not found" % (flag, path))
    if not missing and not elsewhere:
        return None
    missing = [n for n in release.FILES if n in missing]
    parts = []
    if missing:
        weights = [n for n in missing if n in WEIGHT_FILES]
        parts.append("%s is incomplete, missing %s: run `%s`%s"
                     % (params_dir, ", ".join(missing), fetch_command(params_dir, missing),
                        " (the vocabulary only: --n_transfer -1 loads no weights)"
                        if n_transfer == -1 else
                        ", or pass --params_dir a Hugging Face GPT-1 folder, or train from "
                        "scratch with --n_transfer -1 (no weights; needs only %s and %s)"
                        % (release.ENCODER_FILE, release.BPE_FILE) if weights else ""))
    parts += elsewhere
    message = "; ".join(parts)
    if task_download.data_missing(data_dir):
        readme = os.path.join(data_dir, "README.md")
        message = ("both the data and the model files are missing: %s holds no data (expected "
                   "%s; see %s); and %s"
                   % (data_dir, data_source,
                      readme if os.path.isfile(readme) else "datasets/README.md", message))
    return message


def _download_one(name, url, dest, expected, timeout, progress):
    final = os.path.join(dest, name)
    part = final + ".part"
    if os.path.isfile(final):
        got = release.git_blob_id(final)
        if got == expected:
            print("%s: present and verified, skipped" % final)
            return final, False
        print("%s: present but blob id %s != expected %s; fetching it again" % (final, got, expected))
        os.remove(final)
    for _ in range(2):
        try:
            resumed = fetch(url, part, name, timeout, progress)
        except UserError as err:
            raise UserError("%s; %s" % (err, ways_around(name))) from None
        got = release.git_blob_id(part)
        if got == expected:
            os.replace(part, final)
            return final, True
        os.remove(part)
        if not resumed:
            break
        print("%s: resumed download does not verify; fetching the whole file again" % name)
    raise UserError("%s is corrupt: git blob id %s, expected %s (from %s); deleted it"
                    % (name, got, expected, url))


def ways_around(name):
    """What to do when a release file cannot be fetched."""
    return ("ways around it: --base_url URL of a mirror holding the release's files; or "
            "train.py --params_dir FOLDER with a Hugging Face GPT-1 folder (model.safetensors, "
            "vocab.json, merges.txt, e.g. openai-community/openai-gpt)%s"
            % (", or train.py --n_transfer -1 to train from scratch (needs only %s and %s)"
               % (release.ENCODER_FILE, release.BPE_FILE) if name in WEIGHT_FILES else ""))


def download(dest=DEFAULT_DEST, base_url=release.BASE_URL, files=release.FILES, blob_ids=None,
             progress=True, timeout=DEFAULT_TIMEOUT):
    """Fetch `files` from `base_url` into `dest`, each verified against its git blob id.

    `blob_ids` (name -> git blob id) defaults to release.BLOB_IDS.  Files already
    present and verified are skipped.  Returns the final paths, in `files` order.
    Raises UserError on HTTP errors, unreachable hosts, broken connections and
    blob id mismatches."""
    blob_ids = release.BLOB_IDS if blob_ids is None else blob_ids
    files = list(files)
    unknown = [name for name in files if name not in blob_ids]
    if unknown:
        raise UserError("no git blob id known for %s; expected names among: %s"
                        % (", ".join(unknown), ", ".join(sorted(blob_ids))))
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as e:
        raise UserError("cannot create destination folder %s: %s" % (dest, one_line(e)))
    paths = []
    for name in files:
        path, _ = _download_one(name, url_for(base_url, name), dest, blob_ids[name],
                                timeout, progress)
        paths.append(path)
    return paths
