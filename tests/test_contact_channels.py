"""The channels declared once (hotline/contact_channels.py) and every part that reads them agree."""

from __future__ import annotations

from casework import workflow as wf
from channels import intake, outbox
from hotline import contact_channels, privacy
from hotline.db.models import CitizenRequest
from web import i18n


def test_every_channel_but_the_phone_has_a_sender_and_a_label() -> None:
    assert set(outbox.SENDERS) | {"phone"} == set(contact_channels.NAMES)  # calls back go through Asterisk
    assert wf.NOTIFY_CHANNELS == contact_channels.NAMES
    assert intake.CHATS == privacy.CHAT_PLATFORMS == ("zalo", "facebook")
    for name in contact_channels.NAMES:
        assert i18n.translate("vi", f"notify_{name}") != f"notify_{name}"


def test_the_address_of_each_channel_on_a_request() -> None:
    request = CitizenRequest(
        contact_phone="0912345678", contact_email="tu@example.vn", contact_chat="zalo:z1"
    )
    found = {name: contact_channels.address(request, name) for name in contact_channels.NAMES}
    assert found == {
        "sms": "0912345678",
        "phone": "0912345678",
        "email": "tu@example.vn",
        "zalo": "z1",
        "facebook": "",
    }
    request.notify_by = "facebook"
    assert outbox.channel_for(request) is None  # no Messenger id: no way to tell them there
    request.notify_by = "zalo"
    assert outbox.channel_for(request) == ("zalo", "z1")
