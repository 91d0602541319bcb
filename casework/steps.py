"""The steps a request can take, as one table: each step's name, when it is offered (who, in which state),
the inputs it reads and the workflow function that takes it. The JSON API, the staff pages and the
citizen's follow page all take their steps from here, and the rule that an approved answer is told to the
citizen lives here once: whoever approves, the message is queued in the same transaction.

How the citizen is told (a message on their channel) is the channels' business: the table is given the
function that builds it (`TellCitizen`) by the part that wires the application. A new step is a row here
and the workflow function it calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from casework import workflow as wf
from hotline.db.models import Base, Case, CitizenRequest, RequestEvent, Role
from hotline.db.models import RequestStatus as S
from hotline.errors import HotlineError
from hotline.settings import Settings
from hotline.values import clean

# The statuses of a request someone still works on: the lists' default, what a new message joins.
OPEN_STATUSES = wf.OPEN
OPEN = tuple(s.value for s in OPEN_STATUSES)


class StepInputError(HotlineError):
    """An input of the wrong kind (a number where text goes): the caller's mistake, not a refusal."""


# The approved answer as a message to the citizen on their channel, or None when nothing is to be sent.
TellCitizen = Callable[[Settings, CitizenRequest, datetime, bool], Base | None]
# To the citizen of a request merged into another: its number, which they follow from now on.
TellMerged = Callable[[Settings, CitizenRequest, datetime], Base | None]


@dataclass(frozen=True)
class Taking:
    """Everything a step needs: the site, the open transaction, the request, who, when and the inputs
    (a JSON object's values or a form's fields)."""

    settings: Settings
    session: AsyncSession
    request: CitizenRequest
    actor: wf.Actor
    at: datetime
    inputs: Mapping[str, object]

    def text(self, name: str, limit: int = 20000) -> str:
        value = self.inputs.get(name, "")
        if not isinstance(value, str):
            raise StepInputError(f"{name} must be text")
        return clean(value, limit) if limit <= 512 else value[:limit].replace("\x00", "")

    def number(self, name: str) -> float:
        value = self.inputs.get(name)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise StepInputError(f"{name} must be a number") from None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise StepInputError(f"{name} must be a number")
        return float(value)

    def flag(self, name: str) -> bool:
        return self.inputs.get(name) in (True, "yes")

    @property
    def mine(self) -> bool:
        """The actor is a user of the agency the request is with."""
        return self.actor.role is Role.AGENCY and self.actor.agency == self.request.agency


Offered = Callable[[CitizenRequest, wf.Actor], bool]


@dataclass(frozen=True)
class Step:
    name: str
    offered: Offered  # shown to this person now (the workflow still decides when they take it)
    take: Callable[[Taking], Awaitable[RequestEvent]]
    inputs: tuple[str, ...] = ()


def _agency_of(request: CitizenRequest, actor: wf.Actor) -> bool:
    return actor.role is Role.AGENCY and actor.agency == request.agency


def _status(*wanted: S) -> Callable[[CitizenRequest], bool]:
    return lambda request: S(request.status) in wanted


async def _share(t: Taking) -> RequestEvent:
    case = await t.session.scalar(select(Case).where(Case.number == t.text("case", 16)))
    if case is None or not case.recording:
        raise wf.StepRefused("no recorded call with that case number")
    return wf.share_recording(t.request, t.actor, t.at, case.id, case.number)


async def _forward(t: Taking) -> RequestEvent:
    return wf.forward(t.settings, t.request, t.actor, t.text("agency", 32), t.at, t.text("instructions"))


async def _place(t: Taking) -> RequestEvent:
    places, ward = t.settings.places(), t.text("ward", 8)
    if places.ward(ward) is None:
        raise StepInputError(f"{ward!r} is not a ward's code of the site's province: pick one from the list")
    return wf.place(t.request, t.actor, t.at, places, ward)


async def _accept(t: Taking) -> RequestEvent:
    return wf.accept(t.request, t.actor, t.at)


async def _return(t: Taking) -> RequestEvent:
    return wf.return_to_center(t.request, t.actor, t.at, t.text("reason"))


async def _answer(t: Taking) -> RequestEvent:
    return wf.answer(t.request, t.actor, t.at, t.text("text"), fixable=not t.flag("not_fixable"))


async def _merge(t: Taking) -> RequestEvent:
    number = t.text("into", 16)
    into = await t.session.scalar(
        select(CitizenRequest)
        .where(CitizenRequest.number == number)
        .options(selectinload(CitizenRequest.contacts), selectinload(CitizenRequest.events))
    )
    if into is None:
        raise StepInputError(f"no request {number!r} to merge into")
    event = wf.merge(t.request, into, t.actor, t.at)
    # Requests merged into this one before follow it to the one it joins.
    earlier = CitizenRequest.merged_into == t.request.number
    await t.session.execute(update(CitizenRequest).where(earlier).values(merged_into=number))
    return event


async def _approve(t: Taking) -> RequestEvent:
    return wf.approve(t.request, t.actor, t.at)


async def _send_back(t: Taking) -> RequestEvent:
    return wf.send_back(t.request, t.actor, t.at, t.text("remark"))


async def _reject(t: Taking) -> RequestEvent:
    return wf.reject(t.request, t.actor, t.at, t.text("reason"))


async def _reopen(t: Taking) -> RequestEvent:
    return wf.reopen(t.settings, t.request, t.actor, t.at, t.text("why", 4000))


async def _rate(t: Taking) -> RequestEvent:
    stars = t.inputs.get("stars", "")
    return wf.rate(t.request, t.actor, t.at, int(stars) if isinstance(stars, str) and stars.isdigit() else 0)


async def _publish(t: Taking) -> RequestEvent:
    return wf.publish(t.request, t.actor, t.at, t.text("question", 2000), t.text("answer", 8000))


async def _withdraw(t: Taking) -> RequestEvent:
    return wf.withdraw(t.request, t.actor, t.at)


async def _extension(t: Taking) -> RequestEvent:
    return wf.ask_extension(t.request, t.actor, t.at, t.number("hours"), t.text("reason"))


async def _decide(t: Taking) -> RequestEvent:
    return wf.decide_extension(t.settings, t.request, t.actor, t.at, t.flag("grant"))


_received, _with_agency = _status(S.RECEIVED), _status(S.FORWARDED, S.ACCEPTED)
_answered, _ended = _status(S.ANSWERED), _status(S.CLOSED, S.REJECTED)
_accepted = _status(S.ACCEPTED)
TABLE: dict[str, Step] = {
    s.name: s
    for s in (
        Step("forward", lambda r, a: _received(r) and a.center, _forward, ("agency", "instructions")),
        Step("place", lambda r, a: a.center and S(r.status) in OPEN_STATUSES, _place, ("ward",)),
        Step("accept", lambda r, a: _status(S.FORWARDED)(r) and _agency_of(r, a), _accept),
        Step("return", lambda r, a: _with_agency(r) and _agency_of(r, a), _return, ("reason",)),
        Step("answer", lambda r, a: _accepted(r) and _agency_of(r, a), _answer, ("text", "not_fixable")),
        Step("approve", lambda r, a: _answered(r) and a.supervisor, _approve, ("by_agent",)),
        Step("send_back", lambda r, a: _answered(r) and a.supervisor, _send_back, ("remark",)),
        Step("reject", lambda r, a: _received(r) and a.supervisor, _reject, ("reason",)),
        Step("merge", lambda r, a: _received(r) and a.center, _merge, ("into",)),
        Step("reopen", lambda r, a: _ended(r) and (a.center or a.citizen), _reopen, ("why",)),
        Step(
            "extension",
            lambda r, a: _with_agency(r) and _agency_of(r, a) and not r.extension_decision,
            _extension,
            ("hours", "reason"),
        ),
        Step("decide", lambda r, a: r.extension_decision == "asked" and a.supervisor, _decide, ("grant",)),
        Step("share", lambda r, a: a.supervisor, _share, ("case",)),
        Step(
            "publish",
            lambda r, a: _status(S.CLOSED)(r) and bool(r.answer) and a.supervisor,
            _publish,
            ("question", "answer"),
        ),
        Step("withdraw", lambda r, a: r.public and a.supervisor, _withdraw),
        Step("rate", lambda r, a: a.citizen and _status(S.CLOSED)(r), _rate, ("stars",)),
    )
}
NAMES = tuple(TABLE)
STAFF_STEPS = tuple(n for n in NAMES if n != "rate")  # rating is the citizen's alone


class Steps:
    """The table with the application's way of telling the citizen."""

    def __init__(self, tell_citizen: TellCitizen, tell_merged: TellMerged) -> None:
        self._tell, self._tell_merged = tell_citizen, tell_merged

    def offered(self, request: CitizenRequest, actor: wf.Actor, shown: tuple[str, ...] = NAMES) -> list[str]:
        """The steps of `shown` this person could take now, in the table's order."""
        return [name for name in shown if TABLE[name].offered(request, actor)]

    async def take(self, name: str, taking: Taking) -> RequestEvent:
        """Take the step (wf.StepRefused when the workflow refuses it, StepInputError for a bad input);
        an approved answer is queued to the citizen in the same transaction."""
        if name not in TABLE:
            raise StepInputError(f"step must be one of {', '.join(NAMES)}")
        event = await TABLE[name].take(taking)
        told: list[Base | None] = []
        if name == "approve":
            told.append(self._tell(taking.settings, taking.request, taking.at, taking.flag("by_agent")))
            # The citizens whose requests were merged into this one are told its answer too, each on theirs.
            for merged in await taking.session.scalars(
                select(CitizenRequest)
                .where(
                    CitizenRequest.merged_into == taking.request.number,
                    CitizenRequest.status == S.MERGED.value,
                )
                .options(selectinload(CitizenRequest.events))
            ):
                wf.share_answer(merged, taking.request, taking.at)
                told.append(self._tell(taking.settings, merged, taking.at, False))
        elif name == "merge":
            told.append(self._tell_merged(taking.settings, taking.request, taking.at))
        taking.session.add_all(m for m in told if m is not None)
        return event
