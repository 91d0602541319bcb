"""Where a request stands, in the words a citizen understands: one table the follow page, the IVR's key 9,
the messages and Open311 read. Beyond received, forwarded, answered and closed: in progress (the agency
accepted it and works on it), not ours (an agency returned it; where it went next), closed without being
fixed (the agency's answer says it cannot be done), merged into another request about the same problem."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hotline.db.models import AnswerOutcome, CitizenRequest
from hotline.db.models import RequestStatus as S
from hotline.settings import Settings


class Shown(StrEnum):
    RECEIVED = "received"  # with the center, which finds the agency
    FORWARDED = "forwarded"  # sent to an agency, not accepted yet
    IN_PROGRESS = "in_progress"  # the agency accepted it and works on it (or its answer is being checked)
    NOT_OURS = "not_ours"  # an agency returned it as not its own; the center finds the right one
    ANSWERED = "answered"  # closed with the agency's answer
    NOT_FIXED = "not_fixed"  # closed: the agency's answer says it cannot be done, and why
    REJECTED = "rejected"  # not something the hotline handles (the reason is given)
    MERGED = "merged"  # the same problem as another request, which it joined


ENDED = frozenset({Shown.ANSWERED, Shown.NOT_FIXED, Shown.REJECTED, Shown.MERGED})

# Each status as a sentence, in Vietnamese and English: {agency} has it (or answered), {returned_by}
# returned it, {merged_into} is the request it joined.
SENTENCES: dict[Shown, tuple[str, str]] = {
    Shown.RECEIVED: (
        "Tổng đài đã tiếp nhận và đang xem xét, chuyển cơ quan có thẩm quyền.",
        "Received: the hotline is finding the agency responsible.",
    ),
    Shown.FORWARDED: ("Đã chuyển đến {agency}.", "Sent to {agency}."),
    Shown.IN_PROGRESS: ("{agency} đang xử lý.", "{agency} is dealing with it."),
    Shown.NOT_OURS: (
        "{returned_by} trả lại vì không thuộc thẩm quyền; tổng đài đang chuyển đến cơ quan khác.",
        "{returned_by} returned it as not theirs; the hotline is sending it to the right agency.",
    ),
    Shown.ANSWERED: ("Đã có kết quả trả lời của {agency}.", "Answered by {agency}."),
    Shown.NOT_FIXED: (
        "Đã kết thúc: {agency} trả lời rằng không thể giải quyết được, lý do nêu trong câu trả lời.",
        "Closed: {agency} answered that it cannot be done; the answer says why.",
    ),
    Shown.REJECTED: (
        "Không thuộc phạm vi tiếp nhận của tổng đài; lý do nêu kèm theo.",
        "Not something the hotline handles; the reason is given.",
    ),
    Shown.MERGED: (
        "Cùng nội dung với yêu cầu số {merged_into} nên đã được gộp vào yêu cầu đó; "
        "bạn sẽ được báo kết quả của yêu cầu số {merged_into}.",
        "The same problem as request {merged_into}, which it joined; you will be told its answer.",
    ),
}
# What follows "not ours" once the request is with another agency.
AFTER_RETURN = (
    "({returned_by} đã trả lại vì không thuộc thẩm quyền.)",
    "({returned_by} returned it as not theirs.)",
)


@dataclass(frozen=True)
class CitizenStatus:
    shown: Shown
    agency: str  # the label of the agency that has it or answered it
    returned_by: str  # the label of the agency that last returned it as not theirs
    merged_into: str

    @property
    def ended(self) -> bool:
        return self.shown in ENDED

    def sentence(self, language: str = "vi") -> str:
        index = 1 if language == "en" else 0
        values = {
            "agency": self.agency or ("cơ quan có thẩm quyền" if index == 0 else "the agency"),
            "returned_by": self.returned_by or ("Cơ quan được chuyển" if index == 0 else "The agency"),
            "merged_into": self.merged_into,
        }
        text = SENTENCES[self.shown][index].format(**values)
        if self.returned_by and self.shown in (Shown.FORWARDED, Shown.IN_PROGRESS):
            text += " " + AFTER_RETURN[index].format(**values)
        return text


def shown(request: CitizenRequest) -> Shown:
    """The status as the citizen is told it: an answer the center has not approved is not one yet."""
    status = S(request.status)
    if status is S.MERGED:
        return Shown.MERGED
    if status is S.REJECTED:
        return Shown.REJECTED
    if status is S.CLOSED:
        return Shown.NOT_FIXED if request.outcome == AnswerOutcome.NOT_FIXABLE else Shown.ANSWERED
    if status in (S.ACCEPTED, S.ANSWERED):
        return Shown.IN_PROGRESS
    if status is S.FORWARDED:
        return Shown.FORWARDED
    return Shown.NOT_OURS if request.returned_by else Shown.RECEIVED


def citizen_status(settings: Settings, request: CitizenRequest) -> CitizenStatus:
    returned_by = settings.agency_label(request.returned_by) if request.returned_by else ""
    agency = settings.agency_label(request.agency) if request.agency else ""
    return CitizenStatus(shown(request), agency, returned_by, request.merged_into)
