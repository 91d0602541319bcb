"""The public form's check question, answered as a person reads it; a form sent as a citizen sends it."""

from __future__ import annotations

import html
from typing import Any

from web.citizens.challenge import WORDS


def solve(question: str) -> int:
    """The check question answered, as a person reads each of its forms."""
    text = question.lower().removeprefix("trong hai số").replace(",", " ").replace("?", " ")
    a, *rest = [WORDS.index(word) for word in text.split() if word in WORDS]
    if "liền sau" in text:
        return a + 1
    (b,) = rest
    if "lớn hơn" in text:
        return max(a, b)
    if "nhân" in text:
        return a * b
    if "trừ" in text or "ăn" in text:
        return a - b
    return a + b


def answered(page: str) -> dict[str, str]:
    """The form page's check question (its token and the answer), as a person fills them in."""
    token = page.split('name="challenge_token" value="', 1)[1].split('"', 1)[0]
    question = page.split("Câu hỏi kiểm tra: ", 1)[1].split("<input", 1)[0].strip()
    return {"challenge_token": token, "challenge": str(solve(html.unescape(question)))}


async def sent(client: Any, **fields: str) -> str:
    """The form fetched, filled in (a violation with the consent, unless `fields` say otherwise) and sent;
    the number of the request it opened."""
    form = answered(await (await client.get("/report")).text())
    values = {"topic": "violation", "notify_by": "sms", "consent": "yes", **fields, **form}
    reply = await client.post("/report", data=values)
    assert reply.status == 201, await reply.text()
    return str((await reply.text()).split('id="request-number">', 1)[1].split("<", 1)[0])
