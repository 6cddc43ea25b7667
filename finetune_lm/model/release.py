"""Facts about the released GPT-1 files (openai/finetune-transformer-lm, model/)."""

import hashlib
import os

from finetune_lm.model.variables import N_BLOCK

BASE_URL = "https://github.com/openai/finetune-transformer-lm/raw/master/model/"

ENCODER_FILE = "encoder_bpe_40000.json"
BPE_FILE = "vocab_40000.bpe"
SHAPES_FILE = "params_shapes.json"
N_SHARDS = 10
SHARD_FILES = ["params_%d.npy" % i for i in range(N_SHARDS)]
FILES = [ENCODER_FILE, BPE_FILE, SHAPES_FILE] + SHARD_FILES

# Upstream git blob ids (what `git hash-object FILE` prints), commit a69b5c4.
BLOB_IDS = {
    "encoder_bpe_40000.json": "9dc3f0af5a80956e57dc8d9401e16dfadcade7c2",
    "vocab_40000.bpe": "0023a687b3d4d0b795a5e97cc914bdabb5a253df",
    "params_shapes.json": "29fac299ae848d7e447be84a33345edcf1b5353c",
    "params_0.npy": "84d83ac1f1cc878f56f33b167482c184491875d2",
    "params_1.npy": "0f19f4d4cda3d8f908e3faffd2cb2a8b9a4039da",
    "params_2.npy": "25bc19c72fdff69505a828ec6d73b32063532148",
    "params_3.npy": "5b2e6958d42a930966c9d602a012eb846ca67c83",
    "params_4.npy": "87ad158987e307e6aa64952610f466d750b73bc7",
    "params_5.npy": "74f3853316bba327229605dbedfe921996f11448",
    "params_6.npy": "5ef44e40bc076d0c9686d1273d54cbc16c3f0980",
    "params_7.npy": "d8d5c8d3bee9b20a677605ac1fe6c7af4df57c94",
    "params_8.npy": "f980f4b393716f396ae5ae6401708dcf4f270dc9",
    "params_9.npy": "d389eb2074dd74754444b8062aba78b49f6a9053",
}

DOWNLOAD_COMMAND = "python -m finetune_lm.download"

# Released model: 512 learned positions, 40478 BPE tokens, 12 layers of 768.
N_POSITIONS = 512
N_VOCAB = 40478
N_LAYER = 12
N_EMBD = 768
N_PARAMS_ARRAYS = 2 + N_BLOCK * N_LAYER  # 146
N_FLOATS = 116534784


def git_blob_id(path, chunk=1 << 22):
    """sha1 of b"blob <size>\\0" + data, read in chunks (what git hash-object prints)."""
    h = hashlib.sha1(b"blob %d\0" % os.path.getsize(path))
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()

# A folder that is not the release lists its files here (lm/weights.py reads it).
MANIFEST = "manifest.json"
