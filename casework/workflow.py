"""The life of a citizen's request, step by step, each allowed from some statuses to some people:

  received --forward (center)--> forwarded --accept (its agency)--> accepted --answer (its agency)-->
  answered --approve (supervisor)--> closed, the citizen told
  answered --send back (supervisor)--> accepted
  forwarded/accepted --return, not ours (its agency)--> received
  received --reject (supervisor)--> rejected
  closed --reopen (the citizen or the center), within [requests] reopen_days--> forwarded, to the agency
    that answered, with new due times
  rejected --reopen, within [requests] reopen_days--> received
  forwarded/accepted: the agency may ask once for more time; a supervisor grants or refuses it.
  closed: the citizen rates the answer (1 to 5); a supervisor publishes it under a question worded
    without personal data, or withdraws it.

Each step changes the request and appends one event to its history (who, when, what); the caller commits
and writes the audit log. Due times are counted on the agency's working calendar from the forwarding.
Each forwarding is an assignment, from which the agencies' on-time figures are counted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from casework import placing, public_text
from casework.calendar import WorkingCalendar
from hotline import contact_channels
from hotline.db.models import (
    OPEN_STATUSES,
    AnswerOutcome,
    CitizenRequest,
    Priority,
    RequestAssignment,
    RequestContact,
    RequestEvent,
    RequestStatus,
    Role,
)
from hotline.errors import HotlineError
from hotline.places import Places
from hotline.settings import Settings

S = RequestStatus
CENTER = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
# The statuses of a request someone still works on: the lists' default, what a new message joins, what a
# duplicate may be merged into.
OPEN = OPEN_STATUSES
# How a forwarding ends (RequestAssignment.end): its answer approved (as fixed, or as not fixable), or the
# request returned as not the agency's.
END_APPROVED, END_NOT_FIXABLE, END_RETURNED = "approved", "not_fixable", "returned"


class StepRefused(HotlineError):
    """A step that this person may not take, or not now: the message says why, for the person."""


RATINGS = range(1, 6)
# How a citizen may ask to be told of the answer.
NOTIFY_CHANNELS = contact_channels.NAMES


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role | None  # None: the citizen themself (on the public page, by phone)
    agency: str = ""  # an agency user's

    @property
    def citizen(self) -> bool:
        return self.role is None

    @property
    def center(self) -> bool:
        return self.role in CENTER

    @property
    def supervisor(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)


SYSTEM = Actor("system", Role.ADMIN)
DEADLINES = Actor("system:deadlines", Role.ADMIN)


class DueState(StrEnum):
    NONE = "none"  # nothing is due from anyone (with the center, or ended)
    OK = "ok"
    NEAR = "near"  # past [requests] warn_at of the time it was given
    OVERDUE = "overdue"


def _step(request: CitizenRequest, actor: Actor, at: datetime, kind: str, **detail: Any) -> RequestEvent:
    event = RequestEvent(
        at=at, actor=actor.name, kind=kind, detail={k: v for k, v in detail.items() if v != ""}
    )
    request.events.append(event)
    request.due_at, _ = due(request)
    return event


def assignment(request: CitizenRequest) -> RequestAssignment | None:
    """The forwarding in progress, if any."""
    last = request.assignments[-1] if request.assignments else None
    return last if last is not None and last.ended_at is None else None


def _end_assignment(request: CitizenRequest, at: datetime, end: str) -> None:
    if (current := assignment(request)) is not None:
        current.ended_at, current.end = at, end


def _needs(request: CitizenRequest, *statuses: RequestStatus) -> None:
    if request.status not in statuses:
        raise StepRefused(
            f"request {request.number} is {request.status}; this step needs it "
            + " or ".join(s.value for s in statuses)
        )


def _needs_center(actor: Actor) -> None:
    if not actor.center:
        raise StepRefused("only the center's staff take this step")


def _needs_supervisor(actor: Actor) -> None:
    if not actor.supervisor:
        raise StepRefused("only a supervisor takes this step")


def _needs_its_agency(request: CitizenRequest, actor: Actor) -> None:
    if actor.role is not Role.AGENCY or actor.agency != request.agency:
        raise StepRefused(f"only the agency it was forwarded to ({request.agency or 'none'}) takes this step")


def open_request(
    number: str,
    actor: Actor,
    at: datetime,
    *,
    topic: str,
    words: str,
    priority: str = "normal",
    channel: str = "call",
    case_id: int | None = None,
    consent: str = "",
    places: Places | None = None,
    ward: str = "",
    **contact: Any,
) -> CitizenRequest:
    """A new request, received by the center from a call (its case) or a message; `contact` holds the
    citizen's contact and place (contact_phone, contact_name, contact_email, address, district, ...).
    With the site's `places`, it is placed in a ward: `ward` when one was picked, else the one its place,
    position or words name."""
    if priority not in (p.value for p in Priority):
        raise StepRefused(f"priority {priority!r}: normal or urgent")
    if contact.get("notify_by") not in (None, "", *NOTIFY_CHANNELS):
        raise StepRefused(f"notify_by: one of {', '.join(NOTIFY_CHANNELS)}")
    request = CitizenRequest(
        number=number,
        status=S.RECEIVED.value,
        channel=channel,
        topic=topic,
        priority=priority,
        words=words,
        created_at=at,
        created_by=actor.name,
        agency="",
        instructions="",
        answer="",
        remark="",
        reason="",
        extension_reason="",
        extension_decision="",
        reopened=0,
        events=[],
        contacts=[RequestContact(case_id=case_id, channel=channel, at=at, note="")],
        files=[],
        assignments=[],
        public=False,
        public_question="",
        **{k: v for k, v in contact.items() if v is not None},
    )
    if places is not None:
        placing.place(request, places, ward)
    # The consent the citizen gave, word for word, is kept with the request (Decree 13/2023).
    _step(request, actor, at, "received", channel=channel, consent=consent)
    return request


def place(request: CitizenRequest, actor: Actor, at: datetime, places: Places, ward: str) -> RequestEvent:
    """The center says which ward it happened in (the one found was wrong, or none was)."""
    _needs_center(actor)
    if places.ward(ward) is None:
        raise StepRefused(f"{ward!r} is not a ward's code of the site's province")
    previous = request.ward_code
    request.ward_code, request.ward_basis = ward, "picked"
    return _step(request, actor, at, "placed", ward=ward, previous=previous)


def link_call(
    request: CitizenRequest, actor: Actor, at: datetime, case_id: int, case_number: str, started: datetime
) -> RequestEvent:
    """A later call about the same matter (a repeat caller): a contact of the request, in its history."""
    _needs_center(actor)
    if any(k.case_id == case_id for k in request.contacts):
        raise StepRefused("this call is linked to the request already")
    request.contacts.append(RequestContact(case_id=case_id, channel="call", at=started, note=""))
    return _step(request, actor, at, "call_linked", case=case_number)


def add_message(
    request: CitizenRequest,
    actor: Actor,
    at: datetime,
    channel: str,
    subject: str,
    text: str,
    refused: list[str],
    position: tuple[float, float] | None = None,
) -> RequestEvent:
    """What the citizen wrote later about the same matter (or the files that could not be kept, or a place
    they shared: the request takes it when it has none)."""
    if position and request.latitude is None:
        request.latitude, request.longitude = position
    return _step(
        request,
        actor,
        at,
        "message_received",
        channel=channel,
        subject=subject,
        text=text,
        refused=refused or "",
        position=list(position) if position else "",
    )


def share_recording(
    request: CitizenRequest, actor: Actor, at: datetime, case_id: int, case_number: str
) -> RequestEvent:
    """Let the agency hear one of the request's calls (it hears none otherwise)."""
    _needs_supervisor(actor)
    if not any(k.case_id == case_id for k in request.contacts):
        raise StepRefused("only a call of this request can be shared with its agency")
    if case_number in shared_recordings(request):
        raise StepRefused("this call's recording is shared already")
    return _step(request, actor, at, "recording_shared", case=case_number, agency=request.agency)


def shared_recordings(request: CitizenRequest) -> set[str]:
    """The case numbers of the calls whose recordings the center shared with the agency."""
    return {str(e.detail.get("case")) for e in request.events if e.kind == "recording_shared"}


def calendar_of(settings: Settings, agency: str) -> WorkingCalendar:
    own = settings.agency(agency).calendar if agency else None
    return WorkingCalendar(own or settings.calendar, settings.site.timezone, settings.hours.holidays)


def forward(
    settings: Settings,
    request: CitizenRequest,
    actor: Actor,
    agency: str,
    at: datetime,
    instructions: str = "",
) -> RequestEvent:
    """To the agency responsible, with the center's instructions; due times from the settings."""
    _needs(request, S.RECEIVED)
    _needs_center(actor)
    try:
        settings.agency(agency)
    except KeyError:
        raise StepRefused(f"no agency {agency!r} in the settings") from None
    return _forward(settings, request, actor, agency, at, instructions)


def _forward(
    settings: Settings, request: CitizenRequest, actor: Actor, agency: str, at: datetime, instructions: str
) -> RequestEvent:
    deadline = settings.deadline(request.topic, request.priority)
    calendar = calendar_of(settings, agency)
    request.status, request.agency, request.instructions = S.FORWARDED.value, agency, instructions
    request.forwarded_at = at
    request.accept_due_at = calendar.add(at, deadline.accept_hours)
    request.answer_due_at = calendar.add(at, deadline.answer_hours)
    request.accepted_at = request.answered_at = request.escalated_at = None
    request.extension_hours, request.extension_reason, request.extension_decision = None, "", ""
    request.assignments.append(
        RequestAssignment(
            agency=agency,
            topic=request.topic,
            priority=request.priority,
            forwarded_at=at,
            accept_due_at=request.accept_due_at,
            answer_due_at=request.answer_due_at,
            end="",
        )
    )
    return _step(
        request,
        actor,
        at,
        "forwarded",
        agency=agency,
        instructions=instructions,
        accept_due_at=request.accept_due_at.isoformat(),
        answer_due_at=request.answer_due_at.isoformat(),
    )


def accept(request: CitizenRequest, actor: Actor, at: datetime) -> RequestEvent:
    _needs(request, S.FORWARDED)
    _needs_its_agency(request, actor)
    request.status, request.accepted_at = S.ACCEPTED.value, at
    if (current := assignment(request)) is not None:
        current.accepted_at = at
    return _step(request, actor, at, "accepted")


def return_to_center(request: CitizenRequest, actor: Actor, at: datetime, reason: str) -> RequestEvent:
    """Not this agency's: back to the center, which forwards it elsewhere."""
    _needs(request, S.FORWARDED, S.ACCEPTED)
    _needs_its_agency(request, actor)
    if not reason.strip():
        raise StepRefused("say why it is not your agency's, so the center can find the right one")
    agency = request.agency
    _end_assignment(request, at, END_RETURNED)
    request.status, request.agency, request.returned_by = S.RECEIVED.value, "", agency
    request.accept_due_at = request.answer_due_at = None
    return _step(request, actor, at, "returned", agency=agency, reason=reason)


def answer(
    request: CitizenRequest, actor: Actor, at: datetime, text: str, fixable: bool = True
) -> RequestEvent:
    """The agency's answer; `fixable` False when it says the problem cannot be dealt with (and why), so
    the request closes as not fixed rather than as solved."""
    _needs(request, S.ACCEPTED)
    _needs_its_agency(request, actor)
    if not text.strip():
        raise StepRefused("an answer needs its text")
    request.status, request.answer, request.answered_at = S.ANSWERED.value, text, at
    request.outcome = (AnswerOutcome.FIXED if fixable else AnswerOutcome.NOT_FIXABLE).value
    if (current := assignment(request)) is not None:
        current.answered_at = at
    return _step(
        request, actor, at, "answered", late=_late(request.answer_due_at, at), outcome=request.outcome
    )


def approve(request: CitizenRequest, actor: Actor, at: datetime) -> RequestEvent:
    """The answer goes to the citizen; the request is closed."""
    _needs(request, S.ANSWERED)
    _needs_supervisor(actor)
    request.status, request.closed_at = S.CLOSED.value, at
    request.rating = request.rated_at = None
    fixed = request.outcome != AnswerOutcome.NOT_FIXABLE
    _end_assignment(request, at, END_APPROVED if fixed else END_NOT_FIXABLE)
    return _step(request, actor, at, "closed", outcome=request.outcome)


def merge(request: CitizenRequest, into: CitizenRequest, actor: Actor, at: datetime) -> RequestEvent:
    """One problem, one request: a request the center has not forwarded yet joins an open one about the
    same matter. Its citizen becomes a contact of that one and is told its answer; it ends here."""
    _needs(request, S.RECEIVED)
    _needs_center(actor)
    if into.number == request.number:
        raise StepRefused("a request cannot be merged into itself")
    if into.status not in OPEN:
        raise StepRefused(f"request {into.number} is {into.status}: merge into an open request")
    request.status, request.merged_into, request.closed_at = S.MERGED.value, into.number, at
    call = next((k.case_id for k in request.contacts if k.case_id), None)
    linked = {k.case_id for k in into.contacts}
    channel = request.contacts[0].channel if request.contacts else "center"
    note = f"merged {request.number}"
    case_id = call if call not in linked else None
    into.contacts.append(RequestContact(case_id=case_id, channel=channel, at=at, note=note))
    _step(into, actor, at, "merged_in", duplicate=request.number)
    return _step(request, actor, at, "merged", into=into.number)


def share_answer(request: CitizenRequest, answered: CitizenRequest, at: datetime) -> RequestEvent:
    """The answer of the request it was merged into, for its own citizen."""
    request.answer, request.agency, request.outcome = answered.answer, answered.agency, answered.outcome
    request.answered_at = at
    return _step(request, SYSTEM, at, "answer_shared", answered=answered.number)


def send_back(request: CitizenRequest, actor: Actor, at: datetime, remark: str) -> RequestEvent:
    _needs(request, S.ANSWERED)
    _needs_supervisor(actor)
    if not remark.strip():
        raise StepRefused("say what the answer lacks, so the agency can complete it")
    request.status, request.remark = S.ACCEPTED.value, remark
    if (current := assignment(request)) is not None:
        current.answered_at = None  # the agency has not answered until it answers in full
    return _step(request, actor, at, "sent_back", remark=remark)


def reject(request: CitizenRequest, actor: Actor, at: datetime, reason: str) -> RequestEvent:
    """Not something the center handles (the citizen reads the reason)."""
    _needs(request, S.RECEIVED)
    _needs_supervisor(actor)
    if not reason.strip():
        raise StepRefused("a rejection needs a reason the citizen can read")
    request.status, request.reason, request.closed_at = S.REJECTED.value, reason, at
    return _step(request, actor, at, "rejected", reason=reason)


def may_reopen(settings: Settings, request: CitizenRequest, at: datetime, citizen: bool = False) -> bool:
    """Within [requests] reopen_days of the end; for the citizen also fewer than most_reopens times."""
    ended = request.closed_at or at
    if citizen and request.reopened >= settings.requests.most_reopens:
        return False
    return request.status in (S.CLOSED, S.REJECTED) and at - ended <= timedelta(
        days=settings.requests.reopen_days
    )


def link_opens(settings: Settings, request: CitizenRequest, at: datetime) -> bool:
    """A follow link opens its request until [requests] link_days after it closed."""
    return request.closed_at is None or at - request.closed_at <= timedelta(days=settings.requests.link_days)


def reopen(settings: Settings, request: CitizenRequest, actor: Actor, at: datetime, why: str) -> RequestEvent:
    """The citizen is not satisfied, within [requests] reopen_days of the end: an answered request goes
    back to the agency that answered it, with new due times; a rejected one back to the center."""
    _needs(request, S.CLOSED, S.REJECTED)
    if not (actor.center or actor.citizen):
        raise StepRefused("only the citizen or the center's staff reopen a request")
    if not why.strip():
        raise StepRefused("say what is missing from the answer")
    if not may_reopen(settings, request, at):
        raise StepRefused(f"closed more than {settings.requests.reopen_days} days ago: open a new request")
    if actor.citizen and request.reopened >= settings.requests.most_reopens:
        raise StepRefused(
            f"reopened {request.reopened} times already: open a new request, or call the hotline"
        )
    agency = request.agency if request.status == S.CLOSED and request.answer else ""
    request.status, request.closed_at, request.agency = S.RECEIVED.value, None, ""
    request.accept_due_at = request.answer_due_at = None
    request.public, request.rating, request.rated_at = False, None, None
    request.reopened += 1
    event = _step(request, actor, at, "reopened", why=why)
    if agency and agency in {a.name for a in settings.agencies}:
        _forward(settings, request, SYSTEM, agency, at, f"reopened by {actor.name}: {why}")
    return event


def rate(request: CitizenRequest, actor: Actor, at: datetime, stars: int) -> RequestEvent:
    """The citizen's rating of the answer they were given; a later rating replaces it."""
    _needs(request, S.CLOSED)
    if not actor.citizen:
        raise StepRefused("only the citizen rates the answer")
    if stars not in RATINGS:
        raise StepRefused("a rating is 1 to 5")
    request.rating, request.rated_at = stars, at
    approved = [a for a in request.assignments if a.end in (END_APPROVED, END_NOT_FIXABLE)]
    if approved:
        approved[-1].rating = stars
    return _step(request, actor, at, "rated", stars=stars)


def publish(request: CitizenRequest, actor: Actor, at: datetime, question: str, answer: str) -> RequestEvent:
    """The answer on the public list: a question and an answer the center words for everyone, without
    personal data (the agency's answer is the citizen's, and stays theirs)."""
    _needs(request, S.CLOSED)
    _needs_supervisor(actor)
    if not request.answer.strip():
        raise StepRefused("only an answered request can be published")
    if not question.strip() or not answer.strip():
        raise StepRefused(
            "word the question and the answer for the public list, without names, numbers or addresses"
        )
    for what, text in (("question", question), ("answer", answer)):
        if found := public_text.personal_data(text, request):
            raise StepRefused(f"the public {what} holds {', '.join(found)}: word it without")
    request.public, request.public_question, request.public_answer = True, question, answer
    return _step(request, actor, at, "published", question=question, answer=answer)


def withdraw(request: CitizenRequest, actor: Actor, at: datetime) -> RequestEvent:
    _needs_supervisor(actor)
    if not request.public:
        raise StepRefused("this answer is not published")
    request.public = False
    return _step(request, actor, at, "withdrawn")


def ask_extension(
    request: CitizenRequest, actor: Actor, at: datetime, hours: float, reason: str
) -> RequestEvent:
    _needs(request, S.FORWARDED, S.ACCEPTED)
    _needs_its_agency(request, actor)
    if request.extension_decision:
        raise StepRefused("more time can be asked for once per forwarding")
    if hours <= 0 or not reason.strip():
        raise StepRefused("say how many working hours more, and why")
    request.extension_hours, request.extension_reason, request.extension_decision = hours, reason, "asked"
    return _step(request, actor, at, "extension_asked", hours=hours, reason=reason)


def decide_extension(
    settings: Settings, request: CitizenRequest, actor: Actor, at: datetime, grant: bool
) -> RequestEvent:
    _needs(request, S.FORWARDED, S.ACCEPTED)
    _needs_supervisor(actor)
    if request.extension_decision != "asked" or request.extension_hours is None:
        raise StepRefused("no extension is waiting for a decision")
    if grant and request.answer_due_at is not None:
        request.answer_due_at = calendar_of(settings, request.agency).add(
            request.answer_due_at, request.extension_hours
        )
        if (current := assignment(request)) is not None:
            current.answer_due_at = request.answer_due_at
        request.escalated_at = None  # no longer overdue, or overdue anew from the new due time
    request.extension_decision = "granted" if grant else "refused"
    return _step(
        request,
        actor,
        at,
        f"extension_{request.extension_decision}",
        answer_due_at=request.answer_due_at.isoformat() if request.answer_due_at else "",
    )


def due(request: CitizenRequest) -> tuple[datetime | None, datetime | None]:
    """What is due from the agency now, and since when it has had it: (due time, start)."""
    if request.status == S.FORWARDED:
        return request.accept_due_at, request.forwarded_at
    if request.status == S.ACCEPTED:
        return request.answer_due_at, request.forwarded_at
    return None, None


def due_state(settings: Settings, request: CitizenRequest, at: datetime) -> DueState:
    deadline, since = due(request)
    if deadline is None or since is None:
        return DueState.NONE
    if at >= deadline:
        return DueState.OVERDUE
    calendar = calendar_of(settings, request.agency)
    given = calendar.between(since, deadline)
    used = calendar.between(since, at)
    return DueState.NEAR if given and used / given >= settings.requests.warn_at else DueState.OK


def escalate(settings: Settings, requests: list[CitizenRequest], at: datetime) -> list[CitizenRequest]:
    """Overdue requests not yet escalated: each is marked and gets an event; the caller tells the
    supervisors (on the web app, and by e-mail when configured)."""
    newly = []
    for request in requests:
        if request.escalated_at is None and due_state(settings, request, at) is DueState.OVERDUE:
            request.escalated_at = at
            deadline, _ = due(request)
            _step(
                request,
                DEADLINES,
                at,
                "escalated",
                agency=request.agency,
                due_at=deadline.isoformat() if deadline else "",
            )
            newly.append(request)
    return newly


def _late(deadline: datetime | None, at: datetime) -> bool:
    return deadline is not None and at > deadline
