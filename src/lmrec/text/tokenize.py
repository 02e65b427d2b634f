"""Tokenization for lexical search and the fake encoder.

Case and accent folding make ``Amélie`` match ``amelie``. Any script with
spaces between words (Latin, Cyrillic, Greek, Arabic, Hangul...) splits on
non-word characters. Runs of Chinese characters are segmented with jieba,
because Chinese has no spaces between words.

Documents and queries go through the *same* segmentation,
``jieba.lcut_for_search``: it emits every dictionary word plus the words
inside longer compounds (``北京烤鸭`` -> ``北京``, ``烤鸭``, ``北京烤鸭``). Using it on
both sides means a query for the part (``烤鸭``) finds the compound, a query for
the compound still ranks the exact compound first (it matches more tokens),
and an exact title typed as a query yields exactly the title's tokens (which
exact-title matching relies on). Precise mode for queries would miss the
documents where jieba happened to keep a compound whole.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CJK_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
#: A run of CJK ideographs, or a run of other letters/digits (any script, no underscore).
_WORD = re.compile(rf"[{_CJK_CLASS}]+|[^\W_{_CJK_CLASS}]+")
_CJK = re.compile(rf"[{_CJK_CLASS}]")


def fold(text: str) -> str:
    """Lower-case and strip accents (NFKD, drop combining marks)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _jieba() -> object:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


@lru_cache(maxsize=65_536)
def _segment_cjk(run: str) -> tuple[str, ...]:
    jieba = _jieba()
    return tuple(w for w in jieba.lcut_for_search(run) if w.strip())  # type: ignore[attr-defined]


def is_cjk(token: str) -> bool:
    """True when the token is Chinese (segmented by jieba, never typo-corrected)."""
    return bool(_CJK.match(token))


def tokenize(text: str) -> list[str]:
    """Folded word tokens of ``text``, with Chinese runs segmented into words.

    The same function serves documents and queries (see the module docstring).
    """
    tokens: list[str] = []
    for m in _WORD.finditer(fold(text)):
        tok = m.group(0)
        if _CJK.match(tok):
            tokens.extend(_segment_cjk(tok))
        else:
            tokens.append(tok)
    return tokens
