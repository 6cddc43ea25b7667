"""GPT-1 text encoder: ftfy -> standardize -> spaCy tokens -> lower-cased BPE -> ids.

Reproduces the tokenisation the released GPT-1 vocabulary was built with, so
the ids match what the pretrained embedding rows expect.
"""

import json
import os
import re

import ftfy

from finetune_lm.model.release import BPE_FILE, DOWNLOAD_COMMAND, ENCODER_FILE
from finetune_lm.util.errors import UserError
from finetune_lm.util import progress
from finetune_lm.util.files import sha256_file

SPECIAL_TOKENS = ("_start_", "_delimiter_", "_classify_")

_PUNCT_RUN = re.compile(r"""(-+|~+|!+|"+|;+|\?+|\++|,+|\)+|\(+|\\+|\/+|\*+|\[+|\]+|}+|{+|\|+|_+)""")
_NEWLINE = re.compile(r"\s*\n\s*")
_SPACES = re.compile(r"[^\S\n]+")


def text_standardize(text):
    """Normalise punctuation and whitespace the way the GPT-1 vocabulary was built."""
    text = text.replace("—", "-").replace("–", "-").replace("―", "-")
    text = text.replace("…", "...").replace("´", "'")
    # Spacing out punctuation runs makes spaCy split them as the pretraining did.
    text = _PUNCT_RUN.sub(r" \1 ", text)
    text = _NEWLINE.sub(" \n ", text)
    text = _SPACES.sub(" ", text)
    return text.strip()


def get_pairs(word):
    """Set of adjacent symbol pairs in a tuple of symbols."""
    return set(zip(word[:-1], word[1:]))


def add_special_tokens(encoder):
    """Append _start_, _delimiter_, _classify_ to `encoder`; return their ids in that order."""
    for name in SPECIAL_TOKENS:
        encoder[name] = len(encoder)
    return tuple(encoder[name] for name in SPECIAL_TOKENS)


def _missing(path, kind):
    return UserError(
        "%s file %s not found: expected %s from the GPT-1 release (`%s --files %s %s --dest %s` "
        "fetches just the two vocabulary files; without --files, the weights too)"
        % (kind, path, os.path.basename(path), DOWNLOAD_COMMAND, ENCODER_FILE, BPE_FILE,
           os.path.dirname(path) or "."))


def load_encoder(path):
    try:
        with open(path, encoding="utf-8") as f:
            encoder = json.load(f)
    except FileNotFoundError:
        raise _missing(path, "encoder") from None
    except ValueError as e:  # bad JSON or bad UTF-8
        raise UserError("encoder file %s is not valid JSON: %s" % (path, e)) from None
    if not isinstance(encoder, dict) or not all(
            isinstance(k, str) and type(v) is int for k, v in encoder.items()):
        raise UserError("encoder file %s: expected a JSON object mapping str to int" % path)
    return encoder


def _load_merges(path):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        raise _missing(path, "BPE merges") from None
    except ValueError as e:
        raise UserError("BPE merges file %s is not UTF-8 text: %s" % (path, e)) from None
    # Line 1 is the '#version' header and the file ends with a newline.
    merges = []
    for lineno, line in enumerate(lines[1:-1], start=2):
        pair = tuple(line.split())
        if len(pair) != 2:
            raise UserError("BPE merges file %s, line %d: expected two symbols, got %r"
                            % (path, lineno, line))
        merges.append(pair)
    return merges


class TextEncoder:
    """Turns raw texts into GPT-1 BPE ids."""

    def __init__(self, encoder_path, bpe_path):
        self.encoder = load_encoder(encoder_path)
        self.decoder = {v: k for k, v in self.encoder.items()}
        merges = _load_merges(bpe_path)
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache = {}
        self._nlp = None

    @property
    def nlp(self):
        # Only the rule-based tokenizer is needed; a blank pipeline has no model
        # to download and spaCy is slow to import, so defer it to first use.
        if self._nlp is None:
            import spacy
            self._nlp = spacy.blank("en")
        return self._nlp

    def bpe(self, token):
        """Space-separated BPE pieces of one token; the last carries '</w>'."""
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = get_pairs(word)
        if not pairs:
            return token + "</w>"
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        word = " ".join(word)
        # spaCy yields newline tokens as '\n ' (see text_standardize); the
        # vocabulary holds them as '\n</w>'.
        if word == "\n  </w>":
            word = "\n</w>"
        self.cache[token] = word
        return word

    def encode(self, texts, verbose=False):
        """List of id lists, one per text; pieces missing from the vocabulary become 0."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not a single str")
        if verbose:
            texts = progress.bar(texts, ncols=80)
        out = []
        for text in texts:
            doc = self.nlp.tokenizer(text_standardize(ftfy.fix_text(text)))
            ids = []
            for token in doc:
                ids.extend(self.encoder.get(piece, 0)
                           for piece in self.bpe(token.text.lower()).split(" "))
            out.append(ids)
        return out


def vocabulary_sha256(path):
    """SHA-256 of a vocabulary file (what the encoded inputs' caches are keyed by)."""
    try:
        return sha256_file(path)
    except FileNotFoundError:
        raise UserError("vocabulary file %s not found: expected %s from the GPT-1 release "
                        "(`%s` fetches it)" % (path, os.path.basename(path),
                                                DOWNLOAD_COMMAND)) from None
