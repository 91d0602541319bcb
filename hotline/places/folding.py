"""Place names as people type them: with or without diacritics, any case, abbreviated ("P.", "TP", "TT")."""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[^0-9a-z]+")
# How addresses shorten the kinds of units; expanded so "P. Hạc Thành" and "phuong hac thanh" are one.
_SHORT_KINDS = {
    "p": "phuong",
    "ph": "phuong",
    "x": "xa",
    "tt": "thi tran",
    "q": "quan",
    "h": "huyen",
    "tp": "thanh pho",
    "tx": "thi xa",
}


def fold(text: str) -> str:
    """Lower case, without diacritics, words separated by one space: 'Phường Hạc Thành' → 'phuong hac
    thanh'."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(_NOT_WORD.sub(" ", plain).split())


def fold_address(text: str) -> str:
    """`fold` with the kinds' abbreviations written out."""
    return " ".join(_SHORT_KINDS.get(word, word) for word in fold(text).split())
