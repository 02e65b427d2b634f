"""Tokenization for lexical search and the fake encoder.

Case and accent folding make ``Amélie`` match ``amelie``. Runs of CJK
characters are segmented with jieba (Chinese has no spaces between words);
everything else splits on non-alphanumeric characters.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"[0-9a-z]+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


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


def _segment_cjk(run: str) -> list[str]:
    jieba = _jieba()
    return [w for w in jieba.lcut_for_search(run) if w.strip()]  # type: ignore[attr-defined]


def tokenize(text: str) -> list[str]:
    """Folded word tokens of ``text``, with Chinese runs segmented into words."""
    tokens: list[str] = []
    for m in _WORD.finditer(fold(text)):
        tok = m.group(0)
        if _CJK.match(tok):
            tokens.extend(_segment_cjk(tok))
        else:
            tokens.append(tok)
    return tokens
