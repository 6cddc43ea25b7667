"""A check of a batch size against the machine's memory, without TensorFlow: a --n_batch
far too large is one `error:` line before the model loads, not a MemoryError (or an
allocator's abort) minutes later."""

import os

from finetune_lm.util.errors import UserError


def machine_memory():
    """Bytes of physical memory (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def batch_bytes(n_seq, n_ctx, n_embd, n_head):
    """A lower bound of the float32 activations one example needs in a forward pass: per
    token the layer's hidden state, q, k, v, the MLP's 4x and the residuals (about 8
    widths), and one layer's attention weights (n_head x n_ctx), for n_seq sequences."""
    return 4 * n_seq * n_ctx * (8 * n_embd + n_head * n_ctx)


def check_batch(flag, n_batch, sizes, memory=None):
    """Refuse `n_batch` examples of a model of `sizes` (n_seq, n_ctx, n_embd, n_head: a
    run's model.json) whose activations alone would not fit in `memory` (default: the
    machine's). A lower bound: a size that passes may still be too large for a GPU."""
    memory = machine_memory() if memory is None else memory
    if n_batch is None or not memory:
        return
    per = batch_bytes(sizes.get("n_seq", 1), sizes["n_ctx"], sizes["n_embd"], sizes["n_head"])
    if n_batch * per > memory:
        need = n_batch * per  # an int of any size: no float division of it
        raise UserError("%s %d: one batch needs at least %s GiB of activations (%d x %d "
                        "tokens per example, width %d, %d heads), more than this machine's "
                        "%.1f GiB; expected at most %d"
                        % (flag, n_batch, need // 2 ** 30 if need >= 2 ** 40 else
                           "%.1f" % (need / 2 ** 30), sizes.get("n_seq", 1),
                           sizes["n_ctx"], sizes["n_embd"], sizes["n_head"], memory / 2 ** 30,
                           max(1, memory // per)))
