"""What may go on the public list of answers: a text the center words for everyone, checked for what would
tell who the citizen is or how to reach anyone (phone numbers, e-mail addresses, the citizen's own name,
address and phone). The check is a safety net for the supervisor's own reading, not a replacement."""

from __future__ import annotations

import re
import unicodedata

from hotline.db.models import CitizenRequest

# A Vietnamese phone number however it is written: 0912 345 678, 0912.345.678, +84 912 345 678, 1900 1234.
_PHONE = re.compile(r"(?<!\d)(?:\+?84|0)?[\s.\-]?\d(?:[\s.\-()]?\d){7,11}(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_SHORTEST_NAME = 5  # characters: shorter words ("An", "Lê") stand in too many sentences


def _folded(text: str) -> str:
    """Without diacritics or case, spaces collapsed: 'Nguyễn Văn Tư' and 'nguyen van tu' are one."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().split())


def personal_data(text: str, request: CitizenRequest) -> list[str]:
    """Why the text may not go public as it is; [] when nothing was found."""
    found = []
    if _PHONE.search(text):
        found.append("a phone number")
    if _EMAIL.search(text):
        found.append("an e-mail address")
    folded = _folded(text)
    for what, value in (
        ("the citizen's name", request.contact_name),
        ("the citizen's address", request.address),
    ):
        value = _folded(value)
        if len(value) >= _SHORTEST_NAME and value in folded:
            found.append(what)
    return found
