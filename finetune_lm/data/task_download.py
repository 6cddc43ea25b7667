"""Task data on a fresh machine: fetch, verify and lay out each public dataset of the paper.

    python -m finetune_lm.download --task NAME [NAME ...] [--dest DIR] [--base_url URL]
    python -m finetune_lm.download --list

NAME: cola sst2 mrpc stsb qqp mnli qnli rte snli scitail race, dprd (the zero-shot
analysis's Winograd schemas), wnli (the GLUE upload only), diagnostic (GLUE's AX set; also fetched with mnli), glue (the nine GLUE tasks
and the diagnostic set), all (glue, snli, scitail and race). ROCStories is given by its
authors on request: `--task rocstories` says where to ask and where its files go.

Each archive is fetched from its publisher (or `--base_url URL` as URL/<archive name>)
into DEST/.downloads/<name>.part (resumed by an HTTP Range request after an interrupted
run, with the weights' machinery: util/fetch.py), checked against the size and
SHA-256 pinned below (each with the public record it comes from) and only then renamed
to its name. It is unpacked into a temporary folder under DEST/.downloads/, its layout
is checked (and, for an archive whose checksum is on no public record, the row count of
each file against the official counts), a record of what was laid out is written into
it (`.download.json`: the archives' sizes and SHA-256, each file's size), and the folder
is renamed to the one `train.py --dataset NAME` reads by default (datasets/<folder>).
A folder holding a record that verifies is not fetched again; a kill at any point
leaves at most a `.part` or a temporary folder, never a folder that looks complete.
"""

import dataclasses
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from typing import Optional, Tuple

from finetune_lm.util.errors import UserError
from finetune_lm.util import fetch as http
from finetune_lm.util.fetch import DEFAULT_TIMEOUT, one_line, url_for

DEFAULT_DEST = "datasets"
COMMAND = "python -m finetune_lm.download --task %s"
WORK = ".downloads"  # under DEST: .part files, verified archives, unpacking folders
def data_missing(data_dir):
    """True when `data_dir` is absent or holds nothing but README files and hidden ones
    (datasets/<task>/ as the checkout ships it)."""
    if not os.path.isdir(data_dir):
        return True
    return all(n.startswith(".") or n.lower().startswith("readme") for n in os.listdir(data_dir))



RECORD = ".download.json"  # in each laid-out folder: what was laid out, from which archives
CHUNK = 1 << 20

# Where the pinned sizes and SHA-256 come from. Hugging Face's datasets library records,
# for each dataset, the size and SHA-256 of every official URL it downloads
# (dataset_infos.json, "download_checksums"); all four files below, at this commit:
HF_COMMIT = "040102f100964a33fd334e2695f1c493fa6b92db"
HF = "huggingface/datasets@%s datasets/%%s/dataset_infos.json download_checksums" % HF_COMMIT
# The GLUE ones are also in tensorflow/datasets@333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5
# tensorflow_datasets/url_checksums/glue.txt (same sizes and SHA-256, under GLUE's
# earlier Firebase URLs), and TASKS.md of the shared data matches the MRPC files and AX.

GLUE = "https://dl.fbaipublicfiles.com/glue/data/"  # GLUE's host since 2020 (download_glue_data.py)
SENTEVAL = "https://dl.fbaipublicfiles.com/senteval/senteval_data/"
ROCSTORIES_URL = "https://cs.rochester.edu/nlp/rocstories/"
DPRD = "https://s3.amazonaws.com/datasets.huggingface.co/definite_pronoun_resolution/"


@dataclasses.dataclass(frozen=True)
class Archive:
    """One file to fetch: its official URL, its size, its SHA-256 (None: on no public
    record; the unpacked files' row counts are checked instead) and where both come from."""
    url: str
    size: int
    sha256: Optional[str]
    cited: str

    @property
    def name(self):
        return self.url.rsplit("/", 1)[-1]


@dataclasses.dataclass(frozen=True)
class Source:
    """What `--task NAME` fetches and where it lands.

    folder: the folder laid out under DEST (the distribution's own top folder).
    kind: "zip", "tar.gz", "file" (one file, saved as files[0]), "files" (each file saved
        under its own name: DPRD's two) or "mrpc" (the SentEval
        files, split as download_glue_data.py's format_mrpc does).
    files: files the folder must hold after unpacking (relative to it); dirs: folders
        that must each hold at least one file (RACE).
    rows: {file: (data rows, header lines)}, the official counts, checked where an
        archive has no cited SHA-256.
    dataset: the `train.py --dataset` it feeds (None: WNLI, the diagnostic set), which
        reads DEST/<data_dir> by default (the task declaration's folder).
    with_: other sources fetched with it (mnli: the diagnostic set, for AX.tsv).
    """
    name: str
    title: str
    folder: str
    kind: str
    archives: Tuple[Archive, ...]
    files: Tuple[str, ...]
    dirs: Tuple[str, ...] = ()
    rows: dict = dataclasses.field(default_factory=dict)
    dataset: Optional[str] = None
    with_: Tuple[str, ...] = ()
    note: str = ""
    data_folder: Optional[str] = None  # train.py's default --data_dir under DEST, if not folder

    @property
    def data_dir(self):
        """Where `train.py --dataset` reads it, relative to DEST (its Task's folder)."""
        return self.data_folder or self.folder

    @property
    def size(self):
        return sum(a.size for a in self.archives)

    @property
    def pinned(self):
        return all(a.sha256 for a in self.archives)


def _glue(name, archive, size, sha256, files, dataset=None, **kw):
    return Source(name=name, title=archive.split(".")[0], folder=kw.pop("folder", None) or
                  archive.split(".")[0].replace("-clean", "").replace("v2", ""), kind="zip",
                  archives=(Archive(GLUE + archive, size, sha256, HF % "glue"),),
                  files=files, dataset=dataset, **kw)


SPLIT_TSV = ("train.tsv", "dev.tsv", "test.tsv")
QNLI_NOTE = ("GLUE's current QNLI, v2 (2019: 104743/5463/5463 rows); the paper used v1 "
             "(2018: 108436/5732/5740), which GLUE no longer publishes: supply it by hand "
             "(datasets/README.md)")

SOURCES = {s.name: s for s in [
    _glue("cola", "CoLA.zip", 376971,
          "f212fcd832b8f7b435fb991f101abf89f96b933ab400603bf198960dfc32cbff", SPLIT_TSV, "cola"),
    _glue("sst2", "SST-2.zip", 7439277,
          "d67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa", SPLIT_TSV, "sst2"),
    Source(name="mrpc", title="MRPC", folder="MRPC", kind="mrpc", dataset="mrpc",
           archives=(
               Archive(SENTEVAL + "msr_paraphrase_train.txt", 1047044,
                       "60a9b09084528f0673eedee2b69cb941920f0b8cd0eeccefc464a98768457f89",
                       HF % "glue"),
               Archive(SENTEVAL + "msr_paraphrase_test.txt", 441275,
                       "a04e271090879aaba6423d65b94950c089298587d9c084bf9cd7439bd785f784",
                       HF % "glue"),
               Archive(GLUE + "mrpc_dev_ids.tsv", 6222,
                       "971d7767d81b997fd9060ade0ec23c4fc31cbb226a55d1bd4a1bac474eb81dc7",
                       HF % "glue")),
           files=("msr_paraphrase_train.txt", "msr_paraphrase_test.txt", "dev_ids.tsv")
           + SPLIT_TSV,
           note="SentEval's tokenized copy of Microsoft's corpus, split by GLUE's dev ids "
                "as download_glue_data.py does (3668/408/1725 rows)"),
    _glue("stsb", "STS-B.zip", 802872,
          "e60a6393de5a8b5b9bac5020a1554b54e3691f9d600b775bd131e613ac179c85", SPLIT_TSV, "stsb"),
    _glue("qqp", "QQP-clean.zip", 41696084,
          "40e7c862c04eb26ee04b67fd900e76c45c6ba8e6d8fab4f8f1f8072a1a3fbae0", SPLIT_TSV, "qqp",
          note="GLUE's current QQP upload (QQP-clean.zip, as download_glue_data.py and "
               "Hugging Face fetch it)"),
    _glue("mnli", "MNLI.zip", 312783507,
          "e7c1d896d26ed6caf700110645df426cc2d8ebf02a5ab743d5a5c68ac1c83633",
          ("train.tsv", "dev_matched.tsv", "dev_mismatched.tsv", "test_matched.tsv",
           "test_mismatched.tsv"), "mnli", with_=("diagnostic",)),
    _glue("qnli", "QNLIv2.zip", 10627589,
          "e634e78627a29adaecd4f955359b22bf5e70f2cbd93b493f2d624138a0c0e5f5", SPLIT_TSV, "qnli",
          note=QNLI_NOTE),
    _glue("rte", "RTE.zip", 697150,
          "6bf86de103ecd335f3441bd43574d23fef87ecc695977a63b82d5efb206556ee", SPLIT_TSV, "rte"),
    _glue("wnli", "WNLI.zip", 28999,
          "ae0e8e4d16f4d46d4a0a566ec7ecceccfd3fbfaa4a7a4b4e02848c0f2561ac46", SPLIT_TSV,
          note="GLUE upload only: no train.py task (the paper has no WNLI number)"),
    Source(name="diagnostic", title="GLUE diagnostic (AX)", folder="diagnostic", kind="file",
           archives=(Archive(GLUE + "AX.tsv", 222257,
                             "0e13510b1bb14436ff7e2ee82338f0efb0133ecf2e73507a697dc210db3f05fd",
                             HF % "glue"),),
           files=("diagnostic.tsv",),
           note="saved as diagnostic/diagnostic.tsv, beside MNLI/, as download_glue_data.py "
                "does: MNLI's --submit writes AX.tsv from it"),
    Source(name="snli", title="SNLI 1.0", folder="snli_1.0", kind="zip", dataset="snli",
           archives=(Archive("https://nlp.stanford.edu/projects/snli/snli_1.0.zip", 94550081,
                             "afb3d70a5af5d8de0d9d81e2637e0fb8c22d1235c2749d83125ca43dab0dbd3e",
                             HF % "snli"),),
           files=("snli_1.0_train.jsonl", "snli_1.0_dev.jsonl", "snli_1.0_test.jsonl")),
    Source(name="scitail", title="SciTail 1.1", folder="SciTailV1.1", kind="zip",
           dataset="scitail", data_folder="SciTailV1.1/tsv_format",
           archives=(Archive("http://data.allenai.org.s3.amazonaws.com/downloads/SciTailV1.1.zip",
                             14174621,
                             "3fccd37350a94ca280b75998568df85fc2fc62843a3198d644fcbf858e6943d5",
                             HF % "scitail"),),
           files=tuple("tsv_format/scitail_1.0_%s.tsv" % s for s in ("train", "dev", "test"))),
    Source(name="race", title="RACE", folder="RACE", kind="tar.gz", dataset="race",
           archives=(Archive("http://www.cs.cmu.edu/~glai1/data/race/RACE.tar.gz", 25443609,
                             "b2769cc9fdc5c546a693300eb9a966cec6870bd349fbc44ed5225f8ad33006e5",
                             HF % "race"),),
           files=(), dirs=tuple("%s/%s" % (s, lv) for s in ("train", "dev", "test")
                                for lv in ("middle", "high"))),
    # The zero-shot analysis's Winograd schemas (finetune_lm/tasks/dprd.py); the
    # authors' URLs stopped answering in 2021, Hugging Face's mirror holds the files.
    Source(name="dprd", title="DPRD", folder="DPRD", kind="files",
           archives=(Archive(DPRD + "train.c.txt", 160408,
                             "c310158d0cbac1a556e3284e6c167f4478271d8d50b0b9d15dfe428c905a0867",
                             HF % "definite_pronoun_resolution"),
                     Archive(DPRD + "test.c.txt", 67044,
                             "cf1cf025e1d59a5b363e6dcfbd5a13aae8a9830831ac16fd7f865aca7a1559d8",
                             HF % "definite_pronoun_resolution")),
           files=("train.c.txt", "test.c.txt"),
           note="Rahman and Ng 2012 (1322/564 examples), for the zero-shot heuristics "
                "(python -m finetune_lm.zeroshot); no train.py task"),
]}

# Official row counts (data rows, header lines) of the unpacked files (TASKS.md of the
# shared data; Hugging Face's split sizes): checked for any archive that has no cited
# SHA-256. Every archive above has one, so these are a second line only for a source
# whose checksum is removed (a new upload), and what the test of that path uses.
ROWS = {
    "cola": {"train.tsv": (8551, 0), "dev.tsv": (1043, 0), "test.tsv": (1063, 1)},
    "sst2": {"train.tsv": (67349, 1), "dev.tsv": (872, 1), "test.tsv": (1821, 1)},
    "mrpc": {"train.tsv": (3668, 1), "dev.tsv": (408, 1), "test.tsv": (1725, 1)},
    "stsb": {"train.tsv": (5749, 1), "dev.tsv": (1500, 1), "test.tsv": (1379, 1)},
    "qnli": {"train.tsv": (104743, 1), "dev.tsv": (5463, 1), "test.tsv": (5463, 1)},
    "rte": {"train.tsv": (2490, 1), "dev.tsv": (277, 1), "test.tsv": (3000, 1)},
    "diagnostic": {"diagnostic.tsv": (1104, 1)},
    "snli": {"snli_1.0_train.jsonl": (550152, 0), "snli_1.0_dev.jsonl": (10000, 0),
             "snli_1.0_test.jsonl": (10000, 0)},
    "scitail": {"tsv_format/scitail_1.0_train.tsv": (23097, 0),
                "tsv_format/scitail_1.0_dev.tsv": (1304, 0),
                "tsv_format/scitail_1.0_test.tsv": (2126, 0)},
}
for _name, _rows in ROWS.items():
    SOURCES[_name] = dataclasses.replace(SOURCES[_name], rows=_rows)

GROUPS = {
    "glue": ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli", "diagnostic"),
}
GROUPS["all"] = GROUPS["glue"] + ("snli", "scitail", "race")
ON_REQUEST = "rocstories"
# The two Cloze Test files its authors hand out (tasks/rocstories.py reads them).
ROCSTORIES_FILES = ("cloze_test_val__spring2016 - cloze_test_ALL_val.csv",
                    "cloze_test_test__spring2016 - cloze_test_ALL_test.csv")
NAMES = tuple(SOURCES) + tuple(GROUPS) + (ON_REQUEST,)


def rocstories_line(dest=DEFAULT_DEST):
    return ("ROCStories is not downloadable: its authors give it on request (%s); put its "
            "two Cloze Test CSVs in %s (see datasets/rocstories/README.md)"
            % (ROCSTORIES_URL, os.path.join(dest, "rocstories", "")))


QNLI_V1 = ("QNLI v1 (2018, the version the paper used) cannot be downloaded: GLUE's download "
           "script fetches only v2 since 2019, its 2018 link (GLUE's Firebase storage) has "
           "refused downloads since 2021 and no checksum of it is on record; put its "
           "train.tsv, dev.tsv and test.tsv (108436, 5732 and 5740 rows) in %s yourself, or "
           "fetch the current v2 with --version 2")


# --- which sources -------------------------------------------------------------

def expand(names):
    """Source names for `--task` names, in order, each once (groups expanded, mnli's
    diagnostic set added)."""
    out = []

    def add(name):
        if name not in out:
            out.append(name)
            for other in SOURCES[name].with_:
                add(other)
    for name in names:
        if name == ON_REQUEST:
            continue
        if name in GROUPS:
            for n in GROUPS[name]:
                add(n)
        elif name in SOURCES:
            add(name)
        else:
            raise UserError("--task %s: not a task; expected one of %s" % (name, ", ".join(NAMES)))
    return out


def for_dataset(dataset):
    """The source that lays out `train.py --dataset` data (None: rocstories)."""
    for s in SOURCES.values():
        if s.dataset == dataset:
            return s
    return None


# --- verification --------------------------------------------------------------

def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def archive_problem(path, archive):
    """Why the file at `path` is not `archive` (None: it is)."""
    size = os.path.getsize(path)
    if size != archive.size:
        return "%d bytes, expected %d (%s)" % (size, archive.size, archive.cited)
    if archive.sha256:
        got = sha256_of(path)
        if got != archive.sha256:
            return "sha256 %s, expected %s (%s)" % (got, archive.sha256, archive.cited)
    return None


def _record_files(root):
    files = {}
    for top, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            path = os.path.join(top, n)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            if rel != RECORD:
                files[rel] = os.path.getsize(path)
    return files


def state(source, dest=DEFAULT_DEST):
    """("absent" | "verified" | "foreign" | "stale", detail) of source's folder under dest.
    verified: its record names the pinned archives and every file it lists is there,
    with its size; foreign: files there that this command did not lay out; stale: a
    record that no longer verifies."""
    root = os.path.join(dest, source.folder)
    if data_missing(root):
        return "absent", ""
    path = os.path.join(root, RECORD)
    if not os.path.isfile(path):
        return "foreign", "not laid out by this command (no %s)" % RECORD
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        archives, files = record["archives"], record["files"]
        if not (isinstance(archives, dict) and isinstance(files, dict)):
            raise TypeError(RECORD)
    except (OSError, ValueError, KeyError, TypeError):
        return "stale", "its %s is unreadable" % RECORD
    for a in source.archives:
        got = archives.get(a.name)
        if not isinstance(got, dict) or got.get("bytes") != a.size or (
                got.get("sha256") != a.sha256):
            return "stale", "laid out from another %s than the one pinned" % a.name
    for rel, size in files.items():
        p = os.path.join(root, *rel.split("/"))
        if not os.path.isfile(p):
            return "stale", "%s is missing" % rel
        if os.path.getsize(p) != size:
            return "stale", "%s has %d bytes, its record %d" % (rel, os.path.getsize(p), size)
    return "verified", ""


# --- fetching ------------------------------------------------------------------

def fetch(archive, work, base_url, timeout, progress):
    """The verified archive in `work` (fetched, or resumed from its .part); raises
    UserError naming it and what was expected when it does not verify."""
    final = os.path.join(work, archive.name)
    part = final + ".part"
    timeout = timeout or DEFAULT_TIMEOUT
    url = url_for(base_url, archive.name) if base_url else archive.url
    if os.path.isfile(final):
        if archive_problem(final, archive) is None:
            return final
        os.remove(final)
    if os.path.isfile(part) and os.path.getsize(part) > archive.size:
        os.remove(part)  # longer than the archive: not a prefix of it
    problem = None
    for _ in range(2):
        if os.path.isfile(part) and os.path.getsize(part) == archive.size:
            resumed = True  # complete already (a run killed while verifying)
        else:
            resumed = http.fetch(url, part, archive.name, timeout, progress)
        problem = archive_problem(part, archive)
        if problem is None:
            os.replace(part, final)
            return final
        os.remove(part)
        if not resumed:
            break
        print("%s: resumed download does not verify; fetching the whole file again"
              % archive.name)
    raise UserError("%s from %s does not verify: %s; deleted it" % (archive.name, url, problem))


# --- unpacking and layout ------------------------------------------------------

def _safe(name):
    parts = name.replace("\\", "/").split("/")
    return not (name.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts)


def _skipped(name):
    """Members nobody reads: macOS resource forks and Finder files."""
    parts = name.replace("\\", "/").split("/")
    return parts[0] == "__MACOSX" or parts[-1] == ".DS_Store" or parts[-1].startswith("._")


def unpack(path, kind, into, archive_name):
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as z:
                members = [m for m in z.infolist() if not _skipped(m.filename)]
                bad = [m.filename for m in members if not _safe(m.filename)]
                if bad:
                    raise UserError("%s holds %s, a path outside its folder; refused"
                                    % (archive_name, bad[0]))
                for m in members:
                    z.extract(m, into)
        else:
            with tarfile.open(path, "r:gz") as t:
                members = [m for m in t.getmembers() if not _skipped(m.name)]
                for m in members:
                    if not _safe(m.name) or not (m.isfile() or m.isdir()):
                        raise UserError("%s holds %s, not a plain file or folder inside it; "
                                        "refused" % (archive_name, m.name))
                # The members were checked above; "data" also drops modes and owners where
                # this Python has extraction filters (3.9.17+, 3.10.12+, 3.11.4+).
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                t.extractall(into, members=members, **extra)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, ValueError) as e:
        raise UserError("%s is not a readable %s archive (%s); refused"
                        % (archive_name, kind, one_line(e))) from None
    except OSError as e:
        if e.errno is None:  # gzip's BadGzipFile and the like
            raise UserError("%s is not a readable %s archive (%s); refused"
                            % (archive_name, kind, one_line(e))) from None
        raise UserError("cannot unpack %s into %s: %s"
                        % (archive_name, into, one_line(e))) from None


def _top(into):
    return sorted(n for n in os.listdir(into) if not _skipped(n))


def check_layout(source, into, archive_name):
    """The unpacked folder holds source.folder with its files; else an error naming
    what the archive holds and what was expected."""
    root = os.path.join(into, source.folder)
    expected = ", ".join(list(source.files) + ["%s/" % d for d in source.dirs])
    if not os.path.isdir(root):
        raise UserError("%s holds %s at its top; expected the folder %s/ (with %s): "
                        "an unexpected layout, refused"
                        % (archive_name, ", ".join(_top(into)) or "nothing", source.folder,
                           expected))
    missing = [f for f in source.files if not os.path.isfile(os.path.join(root, f))]
    missing += ["%s/" % d for d in source.dirs
                if not os.path.isdir(os.path.join(root, d)) or not any(
                    e.is_file() for e in os.scandir(os.path.join(root, d)))]
    if missing:
        raise UserError("%s: %s/ lacks %s; expected %s: an unexpected layout, refused"
                        % (archive_name, source.folder, ", ".join(missing), expected))
    return root


def count_rows(path):
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return len(lines)


def check_rows(source, root):
    """Each file's data rows against the official count (archives with no checksum)."""
    for rel, (rows, header) in sorted(source.rows.items()):
        got = count_rows(os.path.join(root, *rel.split("/"))) - header
        if got != rows:
            raise UserError("%s/%s has %d rows, expected %d (the official count; %s is on no "
                            "public checksum record, so its rows are what is checked); refused"
                            % (source.folder, rel, got, rows, source.archives[0].name))


def format_mrpc(mrpc_dir):
    """train.tsv, dev.tsv and test.tsv from msr_paraphrase_{train,test}.txt and
    dev_ids.tsv in mrpc_dir, as GLUE's download_glue_data.py (format_mrpc) writes them:
    test.tsv gets the header `index #1 ID #2 ID #1 String #2 String` and the row number
    in place of the label; train/dev keep the train file's header line (its BOM too)
    and take the pairs listed in dev_ids.tsv out for dev. Each row is stripped of
    surrounding whitespace and rewritten with tabs and "\\n"."""
    def rows(path):
        with io.open(path, encoding="utf-8") as fh:
            header = fh.readline()
            for lineno, row in enumerate(fh, start=2):
                fields = row.strip().split("\t")
                if len(fields) != 5:
                    raise UserError("%s, line %d: %d fields, expected 5 (Quality, #1 ID, #2 ID, "
                                    "#1 String, #2 String)" % (path, lineno, len(fields)))
                yield header, fields

    def out(name):
        return io.open(os.path.join(mrpc_dir, name), "w", encoding="utf-8", newline="\n")

    with out("test.tsv") as test_fh:
        test_fh.write("index\t#1 ID\t#2 ID\t#1 String\t#2 String\n")
        for idx, (_, (label, id1, id2, s1, s2)) in enumerate(
                rows(os.path.join(mrpc_dir, "msr_paraphrase_test.txt"))):
            test_fh.write("%d\t%s\t%s\t%s\t%s\n" % (idx, id1, id2, s1, s2))
    with io.open(os.path.join(mrpc_dir, "dev_ids.tsv"), encoding="utf-8") as ids_fh:
        dev_ids = {tuple(row.strip().split("\t")) for row in ids_fh}
    train_path = os.path.join(mrpc_dir, "msr_paraphrase_train.txt")
    with io.open(train_path, encoding="utf-8") as fh:
        header = fh.readline()
    with out("train.tsv") as train_fh, out("dev.tsv") as dev_fh:
        train_fh.write(header)
        dev_fh.write(header)
        for _, (label, id1, id2, s1, s2) in rows(train_path):
            fh = dev_fh if (id1, id2) in dev_ids else train_fh
            fh.write("%s\t%s\t%s\t%s\t%s\n" % (label, id1, id2, s1, s2))


def _build(source, paths, into):
    """Unpack or arrange the verified archives into `into`; returns source's folder there."""
    if source.kind in ("zip", "tar.gz"):
        (archive,), (path,) = source.archives, paths
        unpack(path, source.kind, into, archive.name)
        return check_layout(source, into, archive.name)
    root = os.path.join(into, source.folder)
    os.makedirs(root)
    if source.kind == "file":
        shutil.copyfile(paths[0], os.path.join(root, source.files[0]))
    elif source.kind == "files":
        for path, archive in zip(paths, source.archives):
            shutil.copyfile(path, os.path.join(root, archive.name))
    elif source.kind == "mrpc":
        names = ("msr_paraphrase_train.txt", "msr_paraphrase_test.txt", "dev_ids.tsv")
        for path, name in zip(paths, names):
            shutil.copyfile(path, os.path.join(root, name))
        format_mrpc(root)
    else:
        raise ValueError(source.kind)
    return check_layout(source, into, source.archives[0].name)


def _clear(target, aside):
    """Make way for the new folder: an old folder of ours (its record no longer verifies)
    is moved to `aside` (inside the temporary folder, deleted with it); a folder holding
    only READMEs and hidden files gives them to the new one. Returns those files."""
    if not os.path.isdir(target):
        return []
    if data_missing(target):
        return [os.path.join(target, n) for n in os.listdir(target)]
    os.replace(target, aside)
    return []


def lay_out(source, dest, work, paths):
    """Unpack into a temporary folder under work, check, record, rename into dest."""
    tmp = tempfile.mkdtemp(prefix="%s." % source.name, suffix=".unpacking", dir=work)
    try:
        root = _build(source, paths, tmp)
        if not source.pinned:
            check_rows(source, root)
        record = {"task": source.name, "folder": source.folder,
                  "archives": {a.name: {"url": a.url, "bytes": a.size, "sha256": a.sha256,
                                        "cited": a.cited} for a in source.archives},
                  "files": _record_files(root)}
        with open(os.path.join(root, RECORD), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=0, sort_keys=True)
        target = os.path.join(dest, source.folder)
        for path in _clear(target, os.path.join(tmp, "replaced")):
            if not os.path.exists(os.path.join(root, os.path.basename(path))):
                os.replace(path, os.path.join(root, os.path.basename(path)))
        if os.path.isdir(target):
            shutil.rmtree(target)  # what is left: what the new folder has (its record)
        os.replace(root, target)
        return target, len(record["files"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _sweep(work, source):
    """Temporary folders left by a killed run (never complete, never read)."""
    if os.path.isdir(work):
        for n in os.listdir(work):
            if n.startswith(source.name + ".") and n.endswith(".unpacking"):
                shutil.rmtree(os.path.join(work, n), ignore_errors=True)


def _foreign(source, dest):
    return UserError("%s holds files this command did not lay out (no %s): move it away or "
                     "delete it, then re-run `%s`" % (os.path.join(dest, source.folder), RECORD,
                                                      COMMAND % source.name))


def get(source, dest=DEFAULT_DEST, base_url=None, timeout=None, progress=True):
    """Fetch, verify and lay out one source; returns (folder, fetched: bool)."""
    target = os.path.join(dest, source.folder)
    st, detail = state(source, dest)
    if st == "verified":
        print("%s: present and verified, skipped" % target)
        return target, False
    if st == "foreign":
        raise _foreign(source, dest)
    if st == "stale":
        print("%s: %s; fetching it again" % (target, detail))
    work = os.path.join(dest, WORK)
    try:
        os.makedirs(work, exist_ok=True)
    except OSError as e:
        raise UserError("cannot create %s: %s" % (work, one_line(e)))
    _sweep(work, source)
    paths = []
    try:
        for a in source.archives:
            paths.append(fetch(a, work, base_url, timeout, progress))
        target, n = lay_out(source, dest, work, paths)
    except UserError:
        if len(paths) == len(source.archives):  # verified, then refused: nothing kept
            _discard(paths)
        raise  # (Ctrl-C keeps a verified archive: a re-run verifies it again, then uses it)
    else:
        _discard(paths)  # laid out: the archives are not kept (MNLI: 313 MB)
    finally:
        _remove_if_empty(work)  # a .part to resume, or an archive still needed, keeps it
    how = ("size and sha256 as pinned" if source.pinned else
           "archive NOT pinned (on no public checksum record): its files' row counts checked")
    print("%s: %d file%s from %s (%s)" % (target, n, "" if n == 1 else "s",
                                          ", ".join(a.name for a in source.archives), how))
    if source.name == "qnli":
        print("note: %s" % QNLI_NOTE)
    return target, True


def _discard(paths):
    for p in paths:
        if os.path.exists(p):
            os.remove(p)


def _remove_if_empty(path):
    try:
        os.rmdir(path)
    except OSError:
        pass


def download_tasks(names, dest=DEFAULT_DEST, base_url=None, version=2,
                   timeout=None, progress=True):
    """`--task NAME ...`: every source they name, fetched, verified and laid out."""
    sources = expand(names)
    if version == 1 and "qnli" in sources:
        raise UserError(QNLI_V1 % os.path.join(dest, "QNLI", ""))
    if not sources:  # only rocstories
        raise UserError(rocstories_line(dest))
    # Refuse before fetching anything: a folder this command did not lay out.
    for name in sources:
        st, detail = state(SOURCES[name], dest)
        if st == "foreign":
            raise _foreign(SOURCES[name], dest)
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as e:
        raise UserError("cannot create destination folder %s: %s" % (dest, one_line(e)))
    done = [get(SOURCES[name], dest, base_url, timeout, progress)[0] for name in sources]
    if ON_REQUEST in names:
        print("note: " + rocstories_line(dest))
    return done


def _size(n):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return "%.1f %s" % (n / scale, unit)
    return "%d B" % n


def list_lines(dest=DEFAULT_DEST):
    """`--list`: one line per task: name, size, state, folder, source."""
    lines = []
    for s in SOURCES.values():
        st, detail = state(s, dest)
        text = {"absent": "absent", "verified": "present, verified",
                "foreign": "present, not verified (%s)" % detail,
                "stale": "present, does not verify (%s): re-run with --task %s"
                         % (detail, s.name)}[st]
        check = "sha256 pinned" if s.pinned else "NOT pinned: row counts"
        lines.append("%-10s %9s  %-18s  %-22s %s (%s)%s"
                     % (s.name, _size(s.size), text, os.path.join(dest, s.folder),
                        " + ".join(a.url for a in s.archives), check,
                        "; " + s.note if s.note else ""))
    folder = os.path.join(dest, "rocstories")
    have = [n for n in ROCSTORIES_FILES if os.path.isfile(os.path.join(folder, n))]
    text = ("present (both CSVs)" if len(have) == len(ROCSTORIES_FILES) else
            "on request" if not have else "%d of %d CSVs" % (len(have), len(ROCSTORIES_FILES)))
    lines.append("%-10s %9s  %-18s  %-22s %s (on request)" % (ON_REQUEST, "-", text, folder,
                                                              ROCSTORIES_URL))
    return lines


# --- train.py's hint -------------------------------------------------------------

def data_command(dataset, data_dir):
    """The command that lays out `dataset`'s files in `data_dir` (None for rocstories,
    or for a data_dir whose last part is not the task's folder)."""
    source = for_dataset(dataset)
    if source is None:
        return None
    folder = os.path.normpath(source.data_dir)
    path = os.path.normpath(data_dir)
    if path == folder:
        return COMMAND % source.name + " --dest ."
    if not path.endswith(os.sep + folder):
        return None
    dest = path[:-len(folder) - 1] or os.sep
    cmd = COMMAND % source.name
    return cmd if dest == os.path.normpath(DEFAULT_DEST) else "%s --dest %s" % (cmd, dest)


def data_source(dataset, data_dir, source):
    """A task's source text for train.py's messages, with the download command."""
    cmd = data_command(dataset, data_dir)
    if cmd:
        return "%s; `%s` fetches and lays them out" % (source, cmd)
    if for_dataset(dataset) is not None:
        return "%s; `%s` lays them out in %s" % (source, COMMAND % for_dataset(dataset).name,
                                                  os.path.join(DEFAULT_DEST,
                                                               for_dataset(dataset).data_dir))
    return source


def missing_data(dataset, data_dir):
    """train.py's message when a downloadable task's folder holds no data (None otherwise)."""
    source = for_dataset(dataset)
    if source is None or not data_missing(data_dir):
        return None
    cmd = data_command(dataset, data_dir)
    if cmd:
        return "%s holds no %s data: run `%s`" % (data_dir, source.title, cmd)
    return ("%s holds no %s data: run `%s` (it lays them out in %s; then drop --data_dir)"
            % (data_dir, source.title, COMMAND % source.name,
               os.path.join(DEFAULT_DEST, source.data_dir)))
