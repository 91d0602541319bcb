"""The ways a citizen is told and writes in, declared once: each channel's name (as requests keep it in
`notify_by` and messages in `channel`), its label, which of the request's contacts it reaches (a phone, an
e-mail address, a chat id), whether a message without a number joins the sender's open request, and
whether the web form offers it. The workflow checks `notify_by` against it, the outbox picks the address
and the sender by it, intake joins conversations by it, erasure knows the chat platforms by it, and the form
and its labels are drawn from it. Sending and parsing live in each channel's module (channels/)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hotline.db.models import CitizenRequest


class Reach(StrEnum):
    PHONE = "phone"  # contact_phone
    EMAIL = "email"  # contact_email
    CHAT = "chat"  # contact_chat, "<channel>:<user id>"


@dataclass(frozen=True)
class ContactChannel:
    name: str
    label: tuple[str, str]  # Vietnamese, English
    reach: Reach
    conversation: bool  # a message without a request's number joins the sender's open request
    on_form: bool  # the web form offers it for the answer


CHANNELS: dict[str, ContactChannel] = {
    c.name: c
    for c in (
        ContactChannel("sms", ("Tin nhắn SMS", "SMS"), Reach.PHONE, conversation=True, on_form=True),
        ContactChannel("phone", ("Gọi điện", "Phone call"), Reach.PHONE, conversation=False, on_form=True),
        ContactChannel("email", ("Thư điện tử", "E-mail"), Reach.EMAIL, conversation=False, on_form=True),
        ContactChannel("zalo", ("Zalo", "Zalo"), Reach.CHAT, conversation=True, on_form=False),
        ContactChannel("facebook", ("Messenger", "Messenger"), Reach.CHAT, conversation=True, on_form=False),
    )
}
NAMES = tuple(CHANNELS)
CHATS = tuple(name for name, c in CHANNELS.items() if c.reach is Reach.CHAT)
CONVERSATIONS = tuple(name for name, c in CHANNELS.items() if c.conversation)
ON_FORM = tuple(name for name, c in CHANNELS.items() if c.on_form)


def address(request: CitizenRequest, name: str) -> str:
    """Where `name` reaches the request's citizen ("" when the request has no such contact)."""
    channel = CHANNELS.get(name)
    if channel is None:
        return ""
    if channel.reach is Reach.PHONE:
        return request.contact_phone
    if channel.reach is Reach.EMAIL:
        return request.contact_email
    platform, _, user = request.contact_chat.partition(":")
    return user if platform == name else ""
