"""Pure-Python BERT (uncased) WordPiece tokenizer for the bundled sentence embedder.

It reproduces the reference BERT uncased tokenizer (clean text, CJK splitting, lowercase,
NFD accent stripping, punctuation splitting, greedy longest-match WordPiece) so the device
needs neither ``tokenizers`` nor ``transformers``. Exactness is checked against reference
ids made by the HF tokenizer (tests/engine/test_tokenizer.py).

Speed comes from doing the per-character passes with ``str.translate`` (a C loop) over
lazily filled tables, and caching word -> piece ids. Special tokens written in the input
text (``[SEP]``...) are tokenized as plain text on purpose: manual text must not be able to
inject structure into the model input.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

CLS, SEP, UNK, PAD = "[CLS]", "[SEP]", "[UNK]", "[PAD]"
MAX_CHARS_PER_WORD = 100  # BERT maps longer words to [UNK] whole
_WORD_CACHE_LIMIT = 200_000  # bounds memory on adversarial input; typical manuals use far fewer


def _is_cjk(cp: int) -> bool:
    # The "CJK Unified Ideographs" blocks BERT splits per character (not Hangul or kana).
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _is_punctuation(cp: int) -> bool:
    # BERT treats all non-alphanumeric ASCII as punctuation, plus Unicode P* categories.
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(chr(cp)).startswith("P")


class _CleanTable(dict):
    """translate() table: drop NUL/U+FFFD/control chars, whitespace -> space, pad CJK chars."""

    def __missing__(self, cp: int) -> str | None:
        ch = chr(cp)
        value: str | None
        if ch in "\t\n\r" or ch == " " or unicodedata.category(ch) == "Zs":
            value = " "
        elif cp == 0 or cp == 0xFFFD or unicodedata.category(ch).startswith("C"):
            value = None
        elif _is_cjk(cp):
            value = f" {ch} "
        else:
            value = ch
        self[cp] = value
        return value


class _MarkTable(dict):
    """translate() table: drop non-spacing marks (the accents NFD splits off)."""

    def __missing__(self, cp: int) -> str | None:
        ch = chr(cp)
        value = None if unicodedata.category(ch) == "Mn" else ch
        self[cp] = value
        return value


class _PunctTable(dict):
    """translate() table: surround punctuation with spaces so split() isolates it."""

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        value = f" {ch} " if _is_punctuation(cp) else ch
        self[cp] = value
        return value


class WordPieceTokenizer:
    """BERT uncased tokenizer. ``encode`` returns ids with [CLS]/[SEP], truncated to max_length."""

    def __init__(self, vocab: list[str], max_length: int = 256) -> None:
        if max_length < 2:
            raise ValueError("max_length must leave room for [CLS] and [SEP]")
        self.vocab: dict[str, int] = {tok: i for i, tok in enumerate(vocab)}
        self.max_length = max_length
        self.cls_id = self.vocab[CLS]
        self.sep_id = self.vocab[SEP]
        self.unk_id = self.vocab[UNK]
        self.pad_id = self.vocab.get(PAD, 0)
        # Longest vocab entries bound the greedy search window (cuts dict lookups a lot).
        self._max_piece = max((len(t) for t in vocab if not t.startswith("##")), default=1)
        self._max_suffix = max((len(t) - 2 for t in vocab if t.startswith("##")), default=1)
        self._clean = _CleanTable()
        self._marks = _MarkTable()
        self._punct = _PunctTable()
        self._word_cache: dict[str, list[int]] = {}

    @classmethod
    def from_file(cls, vocab_path: Path | str, max_length: int = 256) -> "WordPieceTokenizer":
        """Load a BERT vocab.txt (one token per line, line number = id)."""
        with open(vocab_path, encoding="utf-8") as fh:
            vocab = [line.rstrip("\n") for line in fh]
        return cls(vocab, max_length=max_length)

    # --- text -> words -------------------------------------------------------------
    def basic_tokenize(self, text: str) -> list[str]:
        """Clean, split CJK, lowercase, strip accents, split punctuation; return words."""
        text = text.translate(self._clean).lower()
        if not text.isascii():
            # NFD splits accents off as Mn marks which we drop (BERT's strip_accents).
            text = unicodedata.normalize("NFD", text).translate(self._marks)
        return text.translate(self._punct).split()

    # --- words -> ids ----------------------------------------------------------------
    def _word_ids(self, word: str) -> list[int]:
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        ids = self._wordpiece(word)
        if len(self._word_cache) >= _WORD_CACHE_LIMIT:
            self._word_cache.clear()
        self._word_cache[word] = ids
        return ids

    def _wordpiece(self, word: str) -> list[int]:
        n = len(word)
        if n > MAX_CHARS_PER_WORD:
            return [self.unk_id]
        vocab = self.vocab
        ids: list[int] = []
        start = 0
        while start < n:
            limit = self._max_piece if start == 0 else self._max_suffix
            end = min(n, start + limit)
            found = -1
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                tid = vocab.get(piece)
                if tid is not None:
                    found = tid
                    break
                end -= 1
            if found < 0:
                return [self.unk_id]  # BERT: one unmatched piece makes the whole word [UNK]
            ids.append(found)
            start = end
        return ids

    def tokenize_ids(self, text: str) -> list[int]:
        """WordPiece ids of ``text`` without special tokens and without truncation."""
        out: list[int] = []
        word_ids = self._word_ids
        for word in self.basic_tokenize(text):
            out.extend(word_ids(word))
        return out

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        """[CLS] ids [SEP], truncated to ``max_length`` (default: the tokenizer's) tokens."""
        limit = (max_length or self.max_length) - 2
        out: list[int] = []
        word_ids = self._word_ids
        for word in self.basic_tokenize(text):
            out.extend(word_ids(word))
            if len(out) >= limit:
                del out[limit:]
                break
        return [self.cls_id, *out, self.sep_id]

    def count(self, text: str) -> int:
        """Number of tokens ``encode`` would produce before truncation (incl. [CLS]/[SEP])."""
        return len(self.tokenize_ids(text)) + 2

    def decode_tokens(self, ids: list[int]) -> list[str]:
        """Token strings for ids (debugging and tests)."""
        inv = getattr(self, "_inv", None)
        if inv is None:
            inv = {i: t for t, i in self.vocab.items()}
            self._inv = inv
        return [inv.get(i, UNK) for i in ids]
