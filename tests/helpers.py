"""What the tests share: where the real data is, the ROCStories file layout, the tiny
model's settings and random parameters, the NumPy reference pieces, and how a command
runs in a subprocess or in process. Test files import this module, never each other.

Real data comes from $FINETUNE_LM_DATA (a folder holding gpt1/, rocstories/, glue/, ...,
as the project's shared data folder does); tests that need it skip, naming the variable.
"""

import contextlib
import csv
import http.server
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading

import joblib
import numpy as np
import pytest

from finetune_lm.model.hparams import HParams

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_ENV = "FINETUNE_LM_DATA"

# The ROCStories Cloze Test files, as their authors name and lay them out.
VAL = "cloze_test_val__spring2016 - cloze_test_ALL_val.csv"
TEST = "cloze_test_test__spring2016 - cloze_test_ALL_test.csv"
HEADER = ["InputStoryid", "InputSentence1", "InputSentence2", "InputSentence3",
          "InputSentence4", "RandomFifthSentenceQuiz1", "RandomFifthSentenceQuiz2",
          "AnswerRightEnding"]

# The tiny model of the command-line tests (bert's modeling_test.py style): 2 layers,
# width 32, 4 heads, a short context.
TINY_SIZE = ["--n_layer", "2", "--n_embd", "32", "--n_head", "4"]


def write_csv(path, rows, header=HEADER):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def data_dir(sub):
    base = os.environ.get(DATA_ENV)
    if not base:
        pytest.skip("set %s to the folder holding gpt1/ and rocstories/ (e.g. ../shared/data)"
                    % DATA_ENV)
    path = os.path.join(base, sub)
    if not os.path.isdir(path):
        pytest.skip("%s=%s has no %s/ folder" % (DATA_ENV, base, sub))
    return path


def subprocess_env(**extra):
    """The environment of a command run in a subprocess: this checkout first on the path,
    TensorFlow quiet, no GPU."""
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.update(extra)
    return env


def run_module(module, args, cwd=None, timeout=900, env=None, **kwargs):
    """`python -m finetune_lm.<module> args...` in a subprocess; CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "finetune_lm." + module] + [str(a) for a in args],
                          cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env or subprocess_env(), **kwargs)


# The encoded tasks of every test's run, shared: what in-process runs started from the
# checkout use by default (datasets/.cache). The cache is keyed by the texts' and the
# vocabulary's content and written atomically, so runs and pytest workers share it
# safely, and a test's run does not spend its time encoding what another encoded.
SHARED_CACHE = os.path.join(ROOT, "datasets", ".cache")


def with_cache(args):
    """train.py's arguments with --cache_dir SHARED_CACHE unless they name one."""
    args = [str(a) for a in args]
    return args if "--cache_dir" in args else args + ["--cache_dir", SHARED_CACHE]


def run_train(args, cwd, timeout=900, env=None):
    """Run train.py in a subprocess (the encodings cached in SHARED_CACHE); returns
    CompletedProcess (text)."""
    return subprocess.run([sys.executable, os.path.join(ROOT, "train.py")] + with_cache(args),
                          cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env=subprocess_env(**(env or {})))


def error_line(capsys, main, argv, allow=None):
    """Run main(argv) in process: it must return 2, print nothing on stdout besides
    (allowed) progress bars, and exactly one `error: ` line on stderr, no traceback.
    allow: a predicate for other stderr lines that may stand beside it (progress bars,
    warnings). Returns the error line."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    if allow is not None:
        others = [line for line in err.splitlines() if line.strip() and line not in errors]
        assert all(allow(line) for line in others), err
    return errors[0]


def progress_bar(line):
    return bool(re.search(r"\d+/\d+ \[", line))


# -- the model's parameters and a NumPy reference -------------------------------------------

def make_params(shapes, seed=0):
    """Random float32 values of the variables {name: shape}, scaled so that each one
    shows in the outputs (gains near 1, biases near 0, we and clf/w wider)."""
    rs = np.random.RandomState(seed)
    out = {}
    for name, shape in shapes.items():
        leaf = name.rsplit("/", 1)[1]
        if leaf == "g":
            a = 1 + 0.1 * rs.randn(*shape)
        elif leaf == "b":
            a = 0.1 * rs.randn(*shape)
        elif name in ("model/we", "model/clf/w"):
            a = 0.5 * rs.randn(*shape)
        else:
            a = 0.2 * rs.randn(*shape)
        out[name] = a.astype(np.float32)
    return out


def same_arrays(a, b):
    """Two lists of arrays holding the same values in the same shapes."""
    assert len(a) == len(b) and all(
        np.shape(x) == np.shape(y) and np.array_equal(x, y) for x, y in zip(a, b))


def np_ln(x, g, b, e=1e-5):
    u = x.mean(-1, keepdims=True)
    var = ((x - u) ** 2).mean(-1, keepdims=True)
    return (x - u) / np.sqrt(var + e) * g + b


NP_ACT = {
    "gelu": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
    "relu": lambda x: np.maximum(x, 0),
    "swish": lambda x: x / (1 + np.exp(-x)),
}


def np_softmax(x):
    x = x - x.max(-1, keepdims=True)
    ex = np.exp(x)
    return ex / ex.sum(-1, keepdims=True)


# -- ROCStories' original dense layout (docs/fidelity.md), through the task's transform -----------

# -- the tiny language model of test_sample and test_perplexity, and its NumPy forward --

# Vocabulary 100 + 3 specials, context 24, 2 layers, width 32, 4 heads, no dropout.
LM_HP = HParams(n_vocab=100, n_special=3, n_ctx=24, n_embd=32, n_head=4, n_layer=2,
                embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0, clf_pdrop=0.0)


def lm_params(hp=LM_HP, seed=0, variables=True):
    """The transformer's random variables (make_params), as tf.Variables."""
    import tensorflow as tf  # only the tests that build a model load it
    from finetune_lm.model.variables import param_shapes
    out = make_params(param_shapes(hp), seed)
    return {k: tf.Variable(v) for k, v in out.items()} if variables else out


def np_lm_logits(P, seq, hp=LM_HP):
    """NumPy float64 forward of the token sequences seq [B, T]: the logits of every
    position over the token rows [B, T, n_vocab]."""
    P = {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v, np.float64) for k, v in P.items()}
    we = P["model/we"]
    B, T = seq.shape
    C, H = hp.n_embd, hp.n_head
    D = C // H
    h = we[seq] + we[hp.n_vocab + hp.n_special + np.arange(T)][None]
    causal = np.tril(np.ones([T, T]))
    for layer in range(hp.n_layer):
        s = "model/h%d/" % layer
        c = h @ P[s + "attn/c_attn/w"][0] + P[s + "attn/c_attn/b"]
        heads = lambda z: z.reshape(B, T, H, D).transpose(0, 2, 1, 3)
        q, k, v = heads(c[..., :C]), heads(c[..., C:2 * C]), heads(c[..., 2 * C:])
        w = q @ k.transpose(0, 1, 3, 2) / np.sqrt(D)
        w = np_softmax(w * causal + -1e9 * (1 - causal))
        a = (w @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
        a = a @ P[s + "attn/c_proj/w"][0] + P[s + "attn/c_proj/b"]
        n = np_ln(h + a, P[s + "ln_1/g"], P[s + "ln_1/b"])
        m = NP_ACT[hp.afn](n @ P[s + "mlp/c_fc/w"][0] + P[s + "mlp/c_fc/b"])
        m = m @ P[s + "mlp/c_proj/w"][0] + P[s + "mlp/c_proj/b"]
        h = np_ln(n + m, P[s + "ln_2/g"], P[s + "ln_2/b"])
    return h @ we[:hp.n_vocab].T


def roc_n_ctx(splits, n_ctx_flag):
    """The model's context for these (x1, x2, x3) token lists: the longest transformed
    sequence, capped at the flag (what data.inputs.prepare_task computes)."""
    from finetune_lm.tasks.rocstories import transform
    longest = max((len(seq) for split in splits for x1, x2, x3 in split
                   for seq in transform({"story": x1, "ending1": x2, "ending2": x3},
                                        (0, 0, 0), n_ctx_flag)), default=0)
    return min(longest, n_ctx_flag)


def roc_dense(X1, X2, X3, n_ctx, max_len, start, delimiter, clf_token, pos_offset):
    """The original's dense input [N, 2, n_ctx, 2] and mask [N, 2, n_ctx], through the
    task's transform (at the --n_ctx whose max_len this is) and Encoded.batch."""
    from finetune_lm.data.inputs import Encoded, flatten
    from finetune_lm.tasks.rocstories import transform
    seqs = [s for x1, x2, x3 in zip(X1, X2, X3)
            for s in transform({"story": x1, "ending1": x2, "ending2": x3},
                               (start, delimiter, clf_token), 2 * (max_len + 2))]
    tokens, offsets = flatten(seqs)
    enc = Encoded(tokens, offsets, 2, None, None, list(range(len(X1))))
    X, M, _ = enc.batch(np.arange(len(X1)), n_ctx, pos_offset)
    return X, M


# -- run folders and Hugging Face folders (test_predict, test_export, test_convert) --

def fake_run(folder, task_name, n_ctx=48, n_embd=32, n_layer=1, n_head=2, seed=0,
             data=None, n_ctx_flag=512, xla=False):
    """A run folder as train.py --submit leaves it, with random parameters."""
    from finetune_lm.data.text import vocabulary_sha256 as sha256_of
    from finetune_lm.tasks import get_task
    from finetune_lm.training import runs
    gpt1 = data_dir("gpt1")
    task = get_task(task_name)
    enc, bpe = os.path.join(gpt1, "encoder_bpe_40000.json"), os.path.join(gpt1, "vocab_40000.bpe")
    info = {"n_ctx": n_ctx, "n_vocab": 40478, "n_special": 3, "n_embd": n_embd,
            "n_head": n_head, "n_layer": n_layer, "head": task.head, "n_seq": task.n_seq,
            "n_out": task.n_out, "task": task.name, "version": 2, "afn": "gelu",
            "clf_token": 40480, "soft_targets": task.soft_targets, "n_ctx_flag": n_ctx_flag,
            "n_batch": 2, "n_gpu": 2, "xla": xla, "compute_dtype": "float32",
            "label_names": list(task.label_names) if task.label_names else None,
            "data_dir": str(data) if data else None, "encoder_path": enc, "bpe_path": bpe,
            "vocab_sha256": {"encoder": sha256_of(enc), "bpe": sha256_of(bpe)}}
    rng = np.random.default_rng(seed)
    arrays = []
    for name, shape in runs.param_shapes(info):
        scale = 0.5 if name.startswith("model/clf") else 0.02
        a = rng.standard_normal(shape).astype(np.float32) * scale
        if name.endswith("/g"):
            a += 1
        arrays.append(a)
    os.makedirs(str(folder), exist_ok=True)
    joblib.dump(arrays, os.path.join(str(folder), "best_params.jl"))
    with open(os.path.join(str(folder), "model.json"), "w") as f:
        json.dump(info, f)
    return str(folder), arrays, info


C, N_POS, N_LAYER, N_VOCAB = 16, 24, 2, 40478


def hf_folder(folder, prefix="", extra_rows=0, seed=0, tokenizer=True):
    """A Hugging Face folder as OpenAIGPTModel saves it (attn.bias buffers and a tied
    lm_head.weight included); returns it and the expected released arrays."""
    from safetensors.numpy import save_file
    from finetune_lm.lm import hf
    from finetune_lm.model import release
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    tokens, positions = r(N_VOCAB + extra_rows, C), r(N_POS, C)
    t = {prefix + "tokens_embed.weight": tokens, prefix + "positions_embed.weight": positions,
         "lm_head.weight": tokens.copy()}
    released = [positions, tokens[:N_VOCAB]]
    shapes = {"attn.c_attn.weight": (C, 3 * C), "attn.c_attn.bias": (3 * C,),
              "attn.c_proj.weight": (C, C), "attn.c_proj.bias": (C,), "ln_1.weight": (C,),
              "ln_1.bias": (C,), "mlp.c_fc.weight": (C, 4 * C), "mlp.c_fc.bias": (4 * C,),
              "mlp.c_proj.weight": (4 * C, C), "mlp.c_proj.bias": (C,), "ln_2.weight": (C,),
              "ln_2.bias": (C,)}
    for i in range(N_LAYER):
        t["%sh.%d.attn.bias" % (prefix, i)] = np.tril(np.ones((N_POS, N_POS), np.float32))[None, None]
        for _, key in hf.BLOCK_KEYS:
            a = r(*shapes[key])
            t["%sh.%d.%s" % (prefix, i, key)] = a
            released.append(a[None] if a.ndim == 2 else a)
    os.makedirs(str(folder), exist_ok=True)
    save_file(t, os.path.join(str(folder), "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(str(folder), "config.json"), "w") as f:
        json.dump({"model_type": "openai-gpt", "n_embd": C, "n_layer": N_LAYER, "n_head": 2,
                   "n_positions": N_POS, "vocab_size": N_VOCAB + extra_rows, "afn": "gelu"}, f)
    if tokenizer:
        gpt1 = data_dir("gpt1")
        shutil.copyfile(os.path.join(gpt1, release.ENCODER_FILE), os.path.join(str(folder), "vocab.json"))
        shutil.copyfile(os.path.join(gpt1, release.BPE_FILE), os.path.join(str(folder), "merges.txt"))
    return str(folder), released


# -- a loopback HTTP server (test_download, test_task_download): ranges, cut bodies, counts --

LOOPBACK_TIMEOUT = 5.0


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root):
        super().__init__(("127.0.0.1", 0), Handler)
        self.root = root
        self.range_enabled = True
        self.corrupt = set()  # names served with a flipped byte
        self.cut_once = {}  # name -> bytes of body to send before closing (used once)
        self.counts = {}  # request path -> number of GETs
        self.ranges = []  # (path, Range header or None) per GET
        self.lock = threading.Lock()

    @property
    def url(self):
        return "http://127.0.0.1:%d/model/" % self.server_address[1]


class Handler(http.server.BaseHTTPRequestHandler):
    timeout = LOOPBACK_TIMEOUT

    def log_message(self, *args):
        pass

    def do_GET(self):
        s = self.server
        rng = self.headers.get("Range")
        with s.lock:
            s.counts[self.path] = s.counts.get(self.path, 0) + 1
            s.ranges.append((self.path, rng))
        name = self.path.rsplit("/", 1)[-1]
        path = os.path.join(s.root, name)
        if not self.path.startswith("/model/") or not os.path.isfile(path):
            self.send_error(404, "Not Found")
            return
        with open(path, "rb") as f:
            data = f.read()
        if name in s.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        status, start = 200, 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if s.range_enabled and m:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start:]
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        with s.lock:
            cut = s.cut_once.pop(name, None)
        if cut is not None:
            body = body[:cut]  # Content-Length promised more; then the connection closes
            self.close_connection = True
        self.wfile.write(body)
        self.wfile.flush()


@contextlib.contextmanager
def loopback_server(root):
    """A Server of the files in `root` under /model/, on a thread for the block."""
    srv = Server(root)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(LOOPBACK_TIMEOUT)


# -- task files (test_tasks_glue, test_tasks_e2e): raw rows, and MNLI's folder from its samples --

def glue_dir(sub):
    return data_dir(os.path.join("glue", sub))


def raw_rows(path):
    """The file's lines split on tabs, as a shell would see them (no loader)."""
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.split("\t") for line in lines]


def write(path, lines, final_newline=True):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines) + ("\n" if final_newline else ""))
    return str(path)


MNLI_DEV_HEADER = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse",
                   "sentence2_binary_parse", "sentence1_parse", "sentence2_parse", "sentence1",
                   "sentence2", "label1", "label2", "label3", "label4", "label5", "gold_label"]
MNLI_OTHER = {"entailment": "neutral", "neutral": "contradiction", "contradiction": "entailment"}


def mnli_folder(tmp_path, diagnostic="sibling"):
    """train.tsv: the 12-column train sample plus a ragged 16-field row; dev_*: the
    16-column layout; test_*: the 10-column one. diagnostic: "sibling" (GLUE's
    ../diagnostic/), "inside" (in the MNLI folder) or None."""
    samples = os.path.join(glue_dir("MNLI"), "glue_format_samples")
    train = raw_rows(os.path.join(samples, "lmbff_16-42_train.tsv"))
    dev = raw_rows(os.path.join(samples, "lmbff_16-42_dev_matched.tsv"))
    assert train[0] == MNLI_DEV_HEADER[:10] + ["label1", "gold_label"]
    d = tmp_path / "glue" / "MNLI"
    d.mkdir(parents=True)
    # A re-annotated row under the 12-column header: label1..label5, gold_label; its
    # label1 differs from the gold label, which is the last field.
    r = dev[1]
    ragged = r[:10] + [MNLI_OTHER[r[-1]], r[-1], r[-1], MNLI_OTHER[r[-1]], r[-1], r[-1]]
    write(d / "train.tsv", ["\t".join(f) for f in train + [ragged]])

    def dev_rows(rows):
        return [f[:10] + [MNLI_OTHER[f[-1]], f[-1], f[-1], f[-1], MNLI_OTHER[f[-1]], f[-1]] for f in rows]
    write(d / "dev_matched.tsv", ["\t".join(f) for f in [MNLI_DEV_HEADER] + dev_rows(dev[1::2])])
    write(d / "dev_mismatched.tsv", ["\t".join(f) for f in [MNLI_DEV_HEADER] + dev_rows(dev[2::2])])
    write(d / "test_matched.tsv", ["\t".join(f[:10]) for f in [train[0]] + dev[1:6]])
    write(d / "test_mismatched.tsv", ["\t".join(f[:10]) for f in [train[0]] + dev[6:9]])
    real = os.path.join(glue_dir("diagnostic"), "diagnostic.tsv")
    if diagnostic == "sibling":
        (tmp_path / "glue" / "diagnostic").mkdir()
        shutil.copy(real, tmp_path / "glue" / "diagnostic" / "diagnostic.tsv")
    elif diagnostic == "inside":
        shutil.copy(real, d / "diagnostic.tsv")
    return str(d), train, dev, ragged


# -- training/model.py and the Python API (test_api) ----------------------------------------------

def tiny_lm_dir(folder, seed=0, n_ctx=16, n_embd=16, n_head=2, n_layer=1):
    """A tiny language model with the real vocabulary in the released format (as
    pretrain writes it); returns (folder, {name: array})."""
    from finetune_lm.model import release
    from finetune_lm.lm.folder import write_params_dir
    from finetune_lm.model.hparams import HParams
    from finetune_lm.model.variables import param_shapes
    gpt1 = data_dir("gpt1")
    hp = HParams(n_vocab=release.N_VOCAB, n_special=0, n_ctx=n_ctx, n_embd=n_embd,
                 n_head=n_head, n_layer=n_layer)
    arrays = make_params(param_shapes(hp), seed)
    return write_params_dir(str(folder), list(arrays.values()), hp,
                            os.path.join(gpt1, release.ENCODER_FILE),
                            os.path.join(gpt1, release.BPE_FILE)), arrays


def head_lines(src, dst, n):
    """The header and first n lines of the text file src, written to dst."""
    with open(src, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    with open(dst, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines[:n + 1]) + "\n")


def file_stamps(root, subs=("log", "save", "submission"), skip=()):
    """{path: mtime_ns} of every file under root/<sub> (the runs' own outputs), but
    those whose name starts with one of `skip` (tables rewritten on purpose): equal
    before and after a command, it wrote nothing there."""
    out = {}
    for sub in subs:
        for folder, _, files in os.walk(os.path.join(str(root), sub)):
            for name in files:
                if not name.startswith(tuple(skip)):
                    path = os.path.join(folder, name)
                    out[path] = os.stat(path).st_mtime_ns
    return out


def tiny_rte(folder, n_train=16, n_dev=11, n_test=6):
    """The first rows of GLUE's RTE files in `folder`."""
    src = data_dir("glue/RTE")
    os.makedirs(str(folder), exist_ok=True)
    for name, n in (("train.tsv", n_train), ("dev.tsv", n_dev), ("test.tsv", n_test)):
        head_lines(os.path.join(src, name), os.path.join(str(folder), name), n)
    return str(folder)
