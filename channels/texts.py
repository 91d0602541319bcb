"""What the hotline writes to citizens, in Vietnamese: the number their request got, and the answer. Each
channel gets its own wording: a mail says to keep the number in the subject, a chat to write on here, and
an SMS only what two parts hold (the number, the follow link, then how to add to it or start anew)."""

from __future__ import annotations

from collections.abc import Sequence

from casework.citizen_status import Shown, citizen_status
from channels import sms
from hotline.db.models import CitizenRequest
from hotline.settings import Settings

RECEIVED_SMS_PARTS = 2
NEW_REQUEST_WORD = "MOI"  # an SMS that starts with it opens a new request (channels/sms_in.py)


def received(
    settings: Settings,
    request: CitizenRequest,
    follow_url: str,
    channel: str = "email",
    refused: Sequence[str] = (),
) -> str:
    """The acknowledgement with the request's number, worded for the channel it goes by, saying which
    files were not taken and why."""
    if channel == "sms":
        return received_sms(settings, request, follow_url)
    first = (
        f"{settings.site.name} đã nhận yêu cầu của bạn, mã số {request.number}.\n"
        f"Theo dõi kết quả: {follow_url}\n"
    ) + not_taken(refused)
    if channel == "email":
        return first + "Khi trả lời thư này, xin giữ nguyên mã số trong tiêu đề.\n"
    return first + "Muốn bổ sung thông tin hay hình ảnh, bạn nhắn tiếp ngay tại đây.\n"


def not_taken(refused: Sequence[str]) -> str:
    """The lines that tell the citizen what of theirs was not taken, and why ("" when all was)."""
    return "".join(f"Không nhận được {why}\n" for why in refused[:10])


def added(request: CitizenRequest, refused: Sequence[str]) -> str:
    """To a message added to a request, when some of it was not taken."""
    return f"Yêu cầu mã số {request.number} đã nhận thêm tin nhắn của bạn.\n" + not_taken(refused)


def received_sms(settings: Settings, request: CitizenRequest, follow_url: str) -> str:
    """Within RECEIVED_SMS_PARTS parts: with its marks when they fit (and the site sends them), else
    without (GSM 7-bit holds more than twice as much: SMS in Vietnam are often written so)."""
    text = (
        f"Đã nhận yêu cầu số {request.number}. Theo dõi: {follow_url} "
        f"Nhắn tin tiếp để bổ sung; nhắn {NEW_REQUEST_WORD} để gửi yêu cầu mới."
    )
    if settings.sms.diacritics and sms.parts(text) <= RECEIVED_SMS_PARTS:
        return text
    plain = sms.without_diacritics(text)
    if sms.parts(plain) <= RECEIVED_SMS_PARTS:
        return plain
    return sms.without_diacritics(f"Đã nhận yêu cầu số {request.number}. Theo dõi: {follow_url}")


def answer(settings: Settings, request: CitizenRequest, follow_url: str) -> str:
    """The answer, said as what it is: solved, or closed without being fixed (the answer says why); for a
    request merged into another, that one's answer."""
    status = citizen_status(settings, request)
    agency = f" của {status.agency}" if status.agency else ""
    if status.shown is Shown.NOT_FIXED:
        head = f"Yêu cầu mã số {request.number} đã kết thúc, không thể giải quyết được theo trả lời{agency}"
    elif status.shown is Shown.MERGED:
        head = (
            f"Yêu cầu mã số {request.number} (đã gộp vào yêu cầu số {request.merged_into}) "
            f"đã có kết quả trả lời{agency}"
        )
    else:
        head = f"Yêu cầu mã số {request.number} đã có kết quả trả lời{agency}"
    return f"{head}:\n\n{request.answer}\n\nĐánh giá câu trả lời hoặc đề nghị xem xét lại: {follow_url}\n"


def merged(settings: Settings, request: CitizenRequest, follow_url: str) -> str:
    """To a citizen whose request joined another about the same problem."""
    return (
        f"Yêu cầu mã số {request.number} của bạn cùng nội dung với yêu cầu số {request.merged_into} "
        f"{settings.site.name} đã tiếp nhận, nên được gộp vào yêu cầu đó. Bạn sẽ được báo kết quả. "
        f"Theo dõi: {follow_url}"
    )


def subject(request: CitizenRequest, original: str = "") -> str:
    """The number in the subject: a reply that keeps it joins the request."""
    tag = f"[1022 #{request.number}]"
    base = original.strip() or "Yêu cầu gửi Tổng đài 1022"
    base = base if base.lower().startswith("re:") else f"Re: {base}"
    return base if tag in base else f"{base} {tag}"[:255]
