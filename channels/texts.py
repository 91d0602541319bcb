"""What the hotline writes to citizens, in Vietnamese: the number their request got, and the answer."""

from __future__ import annotations

from hotline.db.models import CitizenRequest
from hotline.settings import Settings


def received(settings: Settings, request: CitizenRequest, follow_url: str) -> str:
    return (
        f"{settings.site.name} đã nhận yêu cầu của bạn, mã số {request.number}.\n"
        f"Theo dõi kết quả: {follow_url}\n"
        "Khi trả lời thư này, xin giữ nguyên mã số trong tiêu đề.\n"
    )


def answer(settings: Settings, request: CitizenRequest, follow_url: str) -> str:
    agency = settings.agency_label(request.agency)
    return (
        f"Yêu cầu mã số {request.number} đã có kết quả trả lời"
        + (f" của {agency}" if agency else "")
        + f":\n\n{request.answer}\n\n"
        f"Đánh giá câu trả lời hoặc đề nghị xem xét lại: {follow_url}\n"
    )


def subject(request: CitizenRequest, original: str = "") -> str:
    """The number in the subject: a reply that keeps it joins the request."""
    tag = f"[1022 #{request.number}]"
    base = original.strip() or "Yêu cầu gửi Tổng đài 1022"
    base = base if base.lower().startswith("re:") else f"Re: {base}"
    return base if tag in base else f"{base} {tag}"[:255]
