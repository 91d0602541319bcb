"""A citizen's request from the center to an agency and back, step by step: who may take each step and when,
the due times on the working calendar, the flags near and past them, escalation, the one extension, and a
request with its whole history kept in a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from casework import deadlines
from casework import workflow as wf
from casework.workflow import Actor, DueState, StepRefused
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import AuditEntry, CitizenRequest, RequestContact, Role
from hotline.settings import Settings
from tests.conftest import TEST_SETTINGS
from tests.helpers.requests import AGENT, at, new_request

SUPERVISOR = Actor("giamsat", Role.SUPERVISOR)
HEALTH = Actor("soyte", Role.AGENCY, agency="so_y_te")
DISTRICT = Actor("quan1", Role.AGENCY, agency="quan_1")


@pytest.fixture
def site() -> Settings:
    return site_settings.load(
        TEST_SETTINGS,
        overrides={
            "agencies": [
                {"name": "so_y_te", "label": "Sở Y tế", "topics": ["health"]},
                {"name": "quan_1", "label": "UBND Quận 1"},
            ],
            "calendar.holidays": ["2026-11-25"],
        },
    )


def test_a_request_goes_from_the_center_to_the_agency_and_back_to_the_citizen(site: Settings) -> None:
    r = new_request()
    wf.forward(site, r, AGENT, "so_y_te", at(23, 9), "Trả lời trực tiếp cho người dân")
    # 8 working hours to accept (the default), from Monday 09:00 on the offices' calendar: six on Monday
    # (the lunch break and the evening do not count), two on Tuesday.
    assert r.accept_due_at == at(24, 9, 30) and r.status == "forwarded"
    wf.accept(r, HEALTH, at(23, 10))
    wf.answer(r, HEALTH, at(24, 15), "Xét nghiệm tại bệnh viện tỉnh")
    wf.send_back(r, SUPERVISOR, at(24, 16), "Ghi rõ giờ làm việc")
    assert r.status == "accepted" and r.remark == "Ghi rõ giờ làm việc"
    wf.answer(r, HEALTH, at(26, 9), "Xét nghiệm tại bệnh viện tỉnh, 7:30-17:00")
    wf.approve(r, SUPERVISOR, at(26, 10))
    assert r.status == "closed" and r.closed_at == at(26, 10)
    kinds = ["received", "forwarded", "accepted", "answered", "sent_back", "answered", "closed"]
    assert [e.kind for e in r.events] == kinds
    actors = ["canbo101", "canbo101", "soyte", "soyte", "giamsat", "soyte", "giamsat"]
    assert [e.actor for e in r.events] == actors


def test_each_step_only_by_whom_it_belongs_to_and_only_from_its_statuses(site: Settings) -> None:
    r = new_request()
    with pytest.raises(StepRefused, match="center"):
        wf.forward(site, r, HEALTH, "so_y_te", at(23, 9))
    with pytest.raises(StepRefused, match="no agency"):
        wf.forward(site, r, AGENT, "bo_ngoai_giao", at(23, 9))
    with pytest.raises(StepRefused, match="needs it forwarded"):
        wf.accept(r, HEALTH, at(23, 9))
    wf.forward(site, r, AGENT, "so_y_te", at(23, 9))
    with pytest.raises(StepRefused, match="so_y_te"):
        wf.accept(r, DISTRICT, at(23, 10))  # another agency
    with pytest.raises(StepRefused, match="supervisor"):
        wf.reject(new_request(), AGENT, at(23, 10), "không thuộc thẩm quyền")
    wf.accept(r, HEALTH, at(23, 10))
    with pytest.raises(StepRefused, match="text"):
        wf.answer(r, HEALTH, at(23, 11), "  ")
    wf.answer(r, HEALTH, at(23, 11), "Trả lời")
    with pytest.raises(StepRefused, match="supervisor"):
        wf.approve(r, AGENT, at(23, 12))
    # A refused step leaves no trace in the history.
    assert [e.kind for e in r.events] == ["received", "forwarded", "accepted", "answered"]


def test_an_agency_returns_what_is_not_theirs_and_the_center_forwards_it_elsewhere(site: Settings) -> None:
    r = new_request(topic="violation")
    wf.forward(site, r, AGENT, "so_y_te", at(23, 9))
    with pytest.raises(StepRefused, match="why"):
        wf.return_to_center(r, HEALTH, at(23, 10), "")
    wf.return_to_center(r, HEALTH, at(23, 10), "Thuộc thẩm quyền UBND quận")
    assert (r.status, r.agency, r.answer_due_at) == ("received", "", None)
    wf.forward(site, r, AGENT, "quan_1", at(23, 11))
    returned = next(e for e in r.events if e.kind == "returned")
    assert r.agency == "quan_1"
    assert returned.detail == {"agency": "so_y_te", "reason": "Thuộc thẩm quyền UBND quận"}


def test_urgent_requests_and_topics_with_their_own_deadlines(site: Settings) -> None:
    r = new_request(priority="urgent")
    wf.forward(site, r, AGENT, "so_y_te", at(20, 16))  # Friday 16:00
    assert r.accept_due_at == at(23, 10, 30)  # 4 working hours: one on Friday, three on Monday
    # 16 working hours: Friday 1, Monday 7.5, Tuesday 7.5.
    assert r.answer_due_at == at(24, 17)
    later = new_request(priority="urgent")
    wf.forward(site, later, AGENT, "so_y_te", at(23, 16))  # Monday 16:00
    # Monday 1, Tuesday 7.5, Wednesday the 25th a holiday, Thursday 7.5.
    assert later.answer_due_at == at(26, 17)


def test_near_and_overdue_flags_and_a_single_escalation(site: Settings) -> None:
    r = new_request()
    wf.forward(site, r, AGENT, "so_y_te", at(23, 9))  # accept due Tuesday 09:30
    assert wf.due_state(site, r, at(23, 16, 30)) is DueState.OK  # 5.5 of 8 hours gone
    assert wf.due_state(site, r, at(24, 8, 30)) is DueState.NEAR  # 7 of 8
    assert wf.due_state(site, r, at(24, 9, 31)) is DueState.OVERDUE
    assert wf.escalate(site, [r], at(24, 9, 31)) == [r]
    assert wf.escalate(site, [r], at(24, 12)) == []  # once
    assert r.events[-1].kind == "escalated" and r.events[-1].actor == "system:deadlines"
    wf.accept(r, HEALTH, at(24, 10))  # late, but now the answer is what is due
    assert wf.due_state(site, r, at(24, 10)) is DueState.OK


def test_one_extension_per_forwarding_granted_by_a_supervisor(site: Settings) -> None:
    r = new_request()
    wf.forward(site, r, AGENT, "so_y_te", at(23, 9))
    wf.accept(r, HEALTH, at(23, 10))
    due = r.answer_due_at
    assert due is not None
    with pytest.raises(StepRefused, match="no extension"):
        wf.decide_extension(site, r, SUPERVISOR, at(23, 11), grant=True)
    wf.ask_extension(r, HEALTH, at(23, 11), 16, "Cần xác minh tại cơ sở")
    with pytest.raises(StepRefused, match="once"):
        wf.ask_extension(r, HEALTH, at(23, 12), 8, "thêm nữa")
    with pytest.raises(StepRefused, match="supervisor"):
        wf.decide_extension(site, r, AGENT, at(23, 12), grant=True)
    wf.decide_extension(site, r, SUPERVISOR, at(23, 12), grant=True)
    calendar = wf.calendar_of(site, "so_y_te")
    assert r.answer_due_at == calendar.add(due, 16) and r.extension_decision == "granted"


def test_rejected_and_reopened_within_the_days_the_site_allows(site: Settings) -> None:
    r = new_request()
    wf.reject(r, SUPERVISOR, at(23, 9), "Không thuộc phạm vi tiếp nhận của tổng đài")
    assert r.status == "rejected" and r.reason
    wf.reopen(site, r, AGENT, at(24, 9), "Người dân bổ sung thông tin")
    assert (r.status, r.reopened, r.closed_at) == ("received", 1, None)
    wf.reject(r, SUPERVISOR, at(24, 10), "Vẫn không thuộc phạm vi")
    late = at(24, 10) + timedelta(days=site.requests.reopen_days + 1)
    with pytest.raises(StepRefused, match="new request"):
        wf.reopen(site, r, AGENT, late, "lại")


async def test_a_request_and_its_history_are_kept_whole(site: Settings, database: str) -> None:
    await upgrade_async(database)
    engine = make_engine(database)
    db = sessions(engine)
    try:
        async with db() as session, session.begin():
            r = new_request()
            r.contacts.append(RequestContact(channel="call", at=at(24, 8), note="gọi lại hỏi tiến độ"))
            session.add(r)
            wf.forward(site, r, AGENT, "so_y_te", at(23, 9), "Ưu tiên")
            wf.accept(r, HEALTH, at(23, 10))
        async with db() as session:
            kept = await session.scalar(
                select(CitizenRequest).options(
                    selectinload(CitizenRequest.events), selectinload(CitizenRequest.contacts)
                )
            )
        assert kept is not None and kept.status == "accepted"
        assert kept.accept_due_at == at(24, 9, 30).astimezone(UTC)
        assert [(e.kind, e.actor) for e in kept.events] == [
            ("received", "canbo101"),
            ("forwarded", "canbo101"),
            ("accepted", "soyte"),
        ]
        assert kept.events[1].detail["instructions"] == "Ưu tiên"
        assert [c.channel for c in kept.contacts] == ["call", "call"]
    finally:
        await engine.dispose()


async def test_overdue_requests_are_escalated_once_with_the_clock_moved(
    site: Settings, database: str
) -> None:
    await upgrade_async(database)
    engine = make_engine(database)
    db = sessions(engine)
    try:
        async with db() as session, session.begin():
            late, fine = new_request(), new_request()
            fine.number = "10000024"
            session.add_all([late, fine])
            wf.forward(site, late, AGENT, "so_y_te", at(23, 9))  # accept due Tuesday 09:30
            wf.forward(site, fine, AGENT, "so_y_te", at(23, 9))
            wf.accept(fine, HEALTH, at(23, 10))  # now the answer is due, in ten working days
        assert await deadlines.escalate_overdue(site, db, at(24, 9, 29)) == []
        assert [r.number for r in await deadlines.escalate_overdue(site, db, at(24, 9, 31))] == ["10000016"]
        assert await deadlines.escalate_overdue(site, db, at(24, 12)) == []  # once
        async with db() as session:
            kept = await session.scalar(
                select(CitizenRequest)
                .where(CitizenRequest.number == "10000016")
                .options(selectinload(CitizenRequest.events))
            )
            audited = list(
                await session.scalars(
                    select(AuditEntry.target).where(AuditEntry.action == "request.escalated")
                )
            )
        assert kept is not None and kept.events[-1].kind == "escalated" and audited == ["10000016"]
    finally:
        await engine.dispose()


CITIZEN = Actor("citizen@web", None)


def test_what_is_due_now_follows_the_steps_and_each_forwarding_is_an_assignment(site: Settings) -> None:
    r = new_request(topic="violation")
    assert r.due_at is None  # with the center: nothing is due from an agency
    wf.forward(site, r, AGENT, "quan_1", at(23, 9))
    assert r.due_at == r.accept_due_at
    wf.accept(r, DISTRICT, at(23, 10))
    assert r.due_at == r.answer_due_at
    wf.return_to_center(r, DISTRICT, at(23, 11), "Thuộc Sở Y tế")
    assert r.due_at is None
    wf.forward(site, r, AGENT, "so_y_te", at(23, 14))
    wf.accept(r, HEALTH, at(23, 15))
    wf.answer(r, HEALTH, at(24, 9), "Đã xử lý")
    wf.send_back(r, SUPERVISOR, at(24, 10), "Thiếu ảnh")
    assert r.assignments[-1].answered_at is None  # an answer sent back does not count as answered
    wf.answer(r, HEALTH, at(24, 15), "Đã xử lý, có ảnh")
    wf.approve(r, SUPERVISOR, at(24, 16))
    assert [(a.agency, a.end, a.answered_at) for a in r.assignments] == [
        ("quan_1", "returned", None),
        ("so_y_te", "approved", at(24, 15)),
    ]
    assert r.due_at is None


def test_the_citizen_rates_and_reopens_and_the_request_goes_back_to_the_agency(site: Settings) -> None:
    r = new_request()
    wf.forward(site, r, AGENT, "so_y_te", at(23, 9))
    wf.accept(r, HEALTH, at(23, 10))
    wf.answer(r, HEALTH, at(23, 11), "Xét nghiệm tại bệnh viện tỉnh")
    with pytest.raises(StepRefused, match="closed"):
        wf.rate(r, CITIZEN, at(23, 12), 4)  # not before the center approved the answer
    wf.approve(r, SUPERVISOR, at(23, 12))
    with pytest.raises(StepRefused, match="1 to 5"):
        wf.rate(r, CITIZEN, at(23, 13), 6)
    with pytest.raises(StepRefused, match="citizen"):
        wf.rate(r, SUPERVISOR, at(23, 13), 5)
    wf.rate(r, CITIZEN, at(23, 13), 2)
    assert (r.rating, r.assignments[-1].rating) == (2, 2)
    with pytest.raises(StepRefused, match="missing"):
        wf.reopen(site, r, CITIZEN, at(23, 14), " ")
    wf.reopen(site, r, CITIZEN, at(23, 14), "Bệnh viện nào, mấy giờ?")
    # Back to the agency that answered, with new due times, and the old answer's rating kept for it.
    assert (r.status, r.agency, r.reopened, r.rating) == ("forwarded", "so_y_te", 1, None)
    assert r.accept_due_at is not None and r.accept_due_at > at(23, 14)
    assert [a.rating for a in r.assignments] == [2, None]
    assert [e.kind for e in r.events][-3:] == ["rated", "reopened", "forwarded"]
    assert r.events[-2].actor == "citizen@web"


def test_a_supervisor_publishes_an_answer_under_a_question_without_personal_data(site: Settings) -> None:
    r = new_request()
    with pytest.raises(StepRefused, match="closed"):
        wf.publish(r, SUPERVISOR, at(23, 9), "Xét nghiệm ở đâu?", "Tại bệnh viện tỉnh")
    wf.forward(site, r, AGENT, "so_y_te", at(23, 9))
    wf.accept(r, HEALTH, at(23, 10))
    wf.answer(r, HEALTH, at(23, 11), "Tại bệnh viện tỉnh")
    wf.approve(r, SUPERVISOR, at(23, 12))
    with pytest.raises(StepRefused, match="supervisor"):
        wf.publish(r, AGENT, at(23, 13), "Xét nghiệm ở đâu?", "Tại bệnh viện tỉnh")
    with pytest.raises(StepRefused, match="question"):
        wf.publish(r, SUPERVISOR, at(23, 13), "", "Tại bệnh viện tỉnh")
    r.contact_name, r.address = "Nguyễn Văn Tư", "12 Lê Lợi, phường Hạc Thành"
    for answer, found in (
        ("Gọi bác sĩ Hùng 0912.345.678 để hẹn", "a phone number"),
        ("Gọi +84 912 345 678", "a phone number"),
        ("Viết cho yte@thanhhoa.gov.vn", "an e-mail address"),
        ("Ông nguyen van tu đã được hẹn", "the citizen's name"),
        ("Đến 12 lê lợi, phường hạc thành", "the citizen's address"),
    ):
        with pytest.raises(StepRefused, match=found):
            wf.publish(r, SUPERVISOR, at(23, 13), "Xét nghiệm ở đâu?", answer)
    with pytest.raises(StepRefused, match="question holds a phone number"):
        wf.publish(r, SUPERVISOR, at(23, 13), "Số 0912345678 hỏi xét nghiệm ở đâu?", "Tại bệnh viện tỉnh")
    assert not r.public
    wf.publish(
        r,
        SUPERVISOR,
        at(23, 13),
        "Xét nghiệm ở đâu?",
        "Tại bệnh viện tỉnh, từ 7 giờ đến 11 giờ ngày 20/11/2026",
    )
    assert r.public and r.public_question == "Xét nghiệm ở đâu?"
    assert r.public_answer.startswith("Tại bệnh viện tỉnh, từ 7 giờ")
    wf.reopen(site, r, CITIZEN, at(23, 14), "Chưa rõ")
    assert not r.public  # a disputed answer leaves the public list
