"""What a citizen wrote in a reply, without what their mail program quoted: the hotline's own message under
"On … wrote:" / "Vào … đã viết:" or an Outlook header block, lines quoted with ">", the signature and
"Sent from my phone". mail-parser-reply finds the parts; it knows no Vietnamese, so the patterns of
Vietnamese Gmail, Outlook and phones are added to its table here. If it finds nothing of the citizen's own
(a reply that is all quote), the whole text is kept: nothing a citizen wrote is dropped for a pattern."""

from __future__ import annotations

import logging
import re

from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES, QUOTED_MATCH_INCLUDE

log = logging.getLogger(__name__)

VIETNAMESE = {
    # Gmail: "Vào Th 2, 24 thg 11, 2026 vào lúc 09:00 Tổng đài 1022 <hotline@…> đã viết:"
    "wrote_header": r"^(" + QUOTED_MATCH_INCLUDE + r"Vào\s(?:.+?\s?.+?)\s?đã viết:)$",
    # Outlook: "Từ: …" "Đã gửi: …" "Đến: …" "Chủ đề: …"
    "from_header": r"((?:(?:^|\n|\n"
    + QUOTED_MATCH_INCLUDE
    + r")[* ]*(?:Từ|Người gửi|Đã gửi|Ngày|Đến|Tới|Cc|Chủ đề|Tiêu đề):[ *]*(?:\s{,2}).*){2,}(?:\n.*){,1})",
    # Only closings that never start a citizen's own sentence ("Cảm ơn…" often does).
    "signatures": ["Trân trọng", "Kính thư"],
    "sent_from": "Gửi từ|Được gửi từ",
}
MAIL_LANGUAGES.setdefault("vi", VIETNAMESE)
_PARSER = EmailReplyParser(languages=["vi", "en"])
# The library's header patterns take time growing with the square of a line's length; no header, closing or
# quote mark is longer than this, so each line is shown to it cut there and the citizen's lines are taken
# back whole.
LINE_SHOWN = 300
_QUOTED_TAIL = re.compile(r"(?:\n>[^\n]*)+\s*\Z")


def own_words(text: str) -> str:
    """The latest reply in `text`, or `text` itself when no part of it is the citizen's own."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    shown = re.sub(r"\n{3,}", "\n\n", "\n".join(line[:LINE_SHOWN] for line in lines))
    try:
        replies = _PARSER.read(shown).replies
    except (re.error, RecursionError, ValueError) as exc:  # a pattern of the library's failed on this text
        log.warning("a reply's quoted part could not be told apart (%s): the whole text is kept", exc)
        return text
    body = _QUOTED_TAIL.sub("", "\n" + replies[0].body).strip() if replies else ""
    if not body:
        return text
    # The same lines, whole: blank runs were shortened for the library, so match line by line.
    wanted, kept = body.split("\n"), list[str]()
    for line in lines:
        if len(kept) == len(wanted):
            break
        if not line and (not kept or not kept[-1]) and wanted[len(kept)]:
            continue  # a blank line of a run the library saw as one
        if line[:LINE_SHOWN] != wanted[len(kept)]:
            return text  # not the text we showed it: keep everything rather than guess
        kept.append(line)
    return "\n".join(kept).strip() or text
