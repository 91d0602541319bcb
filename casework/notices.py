"""The e-mail about an overdue request, to the center's supervisors and the agency it is with. It goes out
through the one e-mail sender (channels/email.py) when the site has a relay; without one, or with one that
fails, the request is flagged and escalated on its pages all the same."""

from __future__ import annotations

from email.message import EmailMessage
from zoneinfo import ZoneInfo

from casework import workflow as wf
from hotline.db.models import CitizenRequest
from hotline.settings import Settings


def escalation(settings: Settings, request: CitizenRequest) -> EmailMessage | None:
    """The e-mail about one overdue request, or None when there is no one to send it to."""
    to = list(settings.mail.supervisors)
    agency = next((a for a in settings.agencies if a.name == request.agency), None)
    if agency is not None and agency.email:
        to.append(agency.email)
    if not to:
        return None
    due, _ = wf.due(request)
    local = due.astimezone(ZoneInfo(settings.site.timezone)).strftime("%H:%M %d/%m/%Y") if due else "?"
    what = "tiếp nhận" if request.status == "forwarded" else "trả lời"
    message = EmailMessage()
    message["From"] = settings.mail.sender
    message["To"] = ", ".join(to)
    message["Subject"] = f"[{settings.site.name}] Quá hạn {what}: yêu cầu {request.number}"
    message.set_content(
        f"Yêu cầu {request.number} ({request.topic}) đã quá hạn {what} lúc {local}.\n"
        f"Cơ quan xử lý: {agency.label if agency else request.agency}.\n\n"
        "Đây là thư tự động của tổng đài; xem chi tiết trên trang quản lý yêu cầu.\n"
    )
    return message
