"""The web app's API and its guards, on a real SQLite database and a real HTTP server (no Asterisk: the
bridge is built but not connected, so actions that need Asterisk answer 409)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import ClientSession
from sqlalchemy import select

from ami_bridge.calls import Call
from hotline import queued_callbacks
from hotline.db.models import AuditEntry, Case, MissedCall
from hotline.values import mask_number
from tests.conftest import ROOT, TEST_SETTINGS
from tests.web_site import PASSWORD, Site, post_login, sign_in, site, wav
from web import auth, routing
from web.integrations.openapi import document

__all__ = ["site"]  # the fixture


async def test_wrong_password_and_unknown_user_get_no_session(site: Site) -> None:
    for name, password in (("sup", "wrong password!"), ("nobody", PASSWORD)):
        reply = await post_login(site.client, name, password)
        assert reply.status == 401
        assert auth.COOKIE not in reply.cookies
        assert "Sai tên đăng nhập hoặc mật khẩu" in await reply.text()


async def test_pages_need_a_session_and_the_right_role(site: Site) -> None:
    reply = await site.client.get("/wallboard", allow_redirects=False)
    assert reply.status == 303 and reply.headers["Location"].startswith("/login?next=/wallboard")
    assert (await site.client.get("/api/v1/board")).status == 401
    await sign_in(site, "an")
    for path in ("/wallboard", "/cases", "/reports", "/audit"):
        assert (await site.client.get(path)).status == 403, path
    for path in (
        "/api/v1/board",
        "/api/v1/cases",
        "/api/v1/audit",
        f"/api/v1/cases/{site.numbers['101']}/recording",
    ):
        reply = await site.client.get(path)
        assert reply.status == 403 and "error" in await reply.json(), path
    assert (await site.client.get("/desk")).status == 200


async def test_an_agent_sees_only_their_own_cases(site: Site) -> None:
    await sign_in(site, "an")
    assert (await site.client.get(f"/api/v1/cases/{site.numbers['101']}")).status == 200
    assert (await site.client.get(f"/api/v1/cases/{site.numbers['102']}")).status == 403
    assert (await site.client.get(f"/cases/{site.numbers['102']}")).status == 403


async def test_changes_need_the_csrf_token(site: Site) -> None:
    csrf = await sign_in(site, "an")
    path = f"/api/v1/cases/{site.numbers['101']}"
    body = {
        "category": "môi trường",
        "notes": "Xả rác ở chợ",
        "status": "in_progress",
        "follow_up": "2026-12-01",
    }
    assert (await site.client.post(path, json=body)).status == 403
    assert (await site.client.post(path, json=body, headers={"X-CSRF-Token": "forged"})).status == 403
    reply = await site.client.post(path, json=body, headers={"X-CSRF-Token": csrf})
    assert reply.status == 200, await reply.text()
    saved = await reply.json()
    assert (saved["category"], saved["status"], saved["follow_up"][:10]) == (
        "môi trường",
        "in_progress",
        "2026-12-01",
    )
    bad = await site.client.post(path, json={"status": "closed"}, headers={"X-CSRF-Token": csrf})
    assert bad.status == 400 and "status must be one of" in (await bad.json())["error"]
    # An agent changes only their own state.
    other = await site.client.post(
        "/api/v1/agents/102/state", json={"action": "pause"}, headers={"X-CSRF-Token": csrf}
    )
    assert other.status == 403


async def test_bearer_tokens_for_integrations(site: Site) -> None:
    async with ClientSession(str(site.client.make_url(""))) as http:
        supervisor = {"Authorization": f"Bearer {site.tokens['supervisor']}"}
        board = await (await http.get("/api/v1/board", headers=supervisor)).json()
        assert {q["name"] for q in board["queues"]} == {q.name for q in site.settings.queues}
        assert {a["extension"] for a in board["agents"]} == {"101", "102", "103"}
        cases = await (await http.get("/api/v1/cases", headers=supervisor)).json()
        assert {c["number"] for c in cases} == set(site.numbers.values())
        csv_text = await (await http.get("/api/v1/cases.csv", headers=supervisor)).text()
        assert csv_text.splitlines()[0].startswith("number,linkedid,caller")
        agent = {"Authorization": f"Bearer {site.tokens['agent']}"}
        assert (await http.get("/api/v1/cases", headers=agent)).status == 403
        assert (await http.get("/api/v1/board", headers={"Authorization": "Bearer nope"})).status == 401
        # No cookie, so no CSRF token needed; Asterisk is not connected here, which the answer says.
        reply = await http.post("/api/v1/agents/101/state", json={"action": "pause"}, headers=supervisor)
        assert reply.status == 409 and "not connected" in (await reply.json())["error"]
        metrics = await (await http.get("/metrics", headers=supervisor)).text()
        assert 'hotline_agents{state="logged_out"} 3.0' in metrics
        assert "hotline_ami_connected 0.0" in metrics


async def test_recording_playback_is_logged_and_reports_count_the_calls(site: Site) -> None:
    await sign_in(site, "sup")
    number = site.numbers["101"]
    reply = await site.client.get(f"/api/v1/cases/{number}/recording")
    assert reply.status == 200 and reply.headers["Content-Type"] == "audio/wav"
    assert (await reply.read())[:4] == b"RIFF"
    assert (await site.client.get(f"/api/v1/cases/{site.numbers['102']}/recording")).status == 404
    async with site.hotline.db() as session:
        played = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "recording.play")))
    assert [(p.actor, p.target) for p in played] == [("sup", number)]
    today = datetime.now(ZoneInfo(site.settings.site.timezone)).date()
    report = await (
        await site.client.get(
            f"/api/v1/reports?from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"
        )
    ).json()
    assert report["total"]["answered"] == 2 and report["total"]["service_level"] == 100.0
    assert {a["agent"] for a in report["per_agent"]} == {"101", "102"}
    assert sum(h["answered"] for h in report["per_hour"]) == 2
    assert (await site.client.get("/api/v1/reports?from=2026-13-01")).status == 400


async def test_openapi_lists_exactly_the_api_routes_the_app_serves(site: Site) -> None:
    doc = await (await site.client.get("/api/openapi.json")).json()
    served = {
        (r.method, r.resource.canonical)
        for r in site.client.app.router.routes()  # type: ignore[union-attr]
        if r.resource is not None
        and r.resource.canonical.startswith(("/api/v1", "/metrics"))
        and r.method != "HEAD"
    }
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    app = site.client.app
    assert app is not None
    assert documented == served == {(r.method, r.path) for r in routing.served(app) if r.api}
    assert doc == document(routing.served(app))
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["x-required-role"] in ("agency", "agent", "supervisor", "admin")


async def test_sign_in_redirects_only_within_the_site(site: Site) -> None:
    for target, expected in (
        ("/reports", "/reports"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
    ):
        reply = await post_login(site.client, "sup", PASSWORD, target)
        assert reply.headers["Location"] == expected


def test_user_add_command_makes_the_first_admin(tmp_path: Path) -> None:
    env = {"HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/users.db", "PATH": "/usr/bin:/bin"}

    def user(*args: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "shell.cli", "--settings", str(TEST_SETTINGS), "user", *args]
        return subprocess.run(
            command, input=password + "\n", text=True, capture_output=True, cwd=ROOT, env=env
        )

    assert user("list").stdout == ""  # no default user
    short = user("add", "root", "--role", "admin", "--password-stdin", password="short")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    made = user("add", "root", "--role", "admin", "--password-stdin")
    assert made.returncode == 0, made.stderr
    assert user("list").stdout.split() == ["root", "admin", "-"]
    again = user("add", "root", "--role", "admin", "--password-stdin")
    assert again.returncode == 1 and "exists already" in again.stderr
    agent = user("add", "x", "--role", "agent", "--password-stdin")
    assert agent.returncode == 1 and "--extension" in agent.stderr
    unknown = user("add", "x", "--role", "agent", "--extension", "999", "--password-stdin")
    assert unknown.returncode == 1 and "not an [[agents]] extension" in unknown.stderr


async def test_an_admin_sees_the_dead_letters_and_writes_them_again(site: Site) -> None:
    from sqlalchemy import update

    from hotline.db.models import Case

    writer = site.hotline.writer
    writer.window = 0.05
    start = datetime.now(UTC) - timedelta(minutes=2)
    # A call that claims the case number of another (a broken dialplan, say): the database refuses it.
    clash = Call(
        linkedid="100.9", started_at=start, caller="0912000999", did="1022", number=site.numbers["101"]
    )
    clash.caller_name = "<script>alert(1)</script>"
    clash.mark("entered", start, did="1022")
    clash.finish(start + timedelta(seconds=30))
    writer.start()
    try:
        writer.submit(clash)
        await writer.flush(timeout=10)
        assert writer.dead == {"100.9"}
        csrf = await sign_in(site, "an")
        assert (await site.client.get("/dead-letters")).status == 403
        csrf = await sign_in(site, "admin")
        page = await (await site.client.get("/dead-letters")).text()
        assert "100.9" in page and "IntegrityError" in page and "<script>alert" not in page
        metrics = await (await site.client.get("/metrics")).text()
        assert "hotline_dead_letters 1.0" in metrics and "hotline_cases_dead_lettered_total 1.0" in metrics
        assert 'hotline_disk_free_bytes{path="recordings"}' in metrics
        # The cause is fixed (the other case is given another number); the admin writes it again.
        async with site.hotline.db() as session, session.begin():
            await session.execute(update(Case).where(Case.linkedid == "100.1").values(number="90000000"))
        reply = await site.client.post("/dead-letters/retry", data={"csrf": csrf}, allow_redirects=False)
        assert reply.status == 303 and reply.headers["Location"] == "/dead-letters?retried=1"
        await writer.flush(timeout=10)
        page = await (await site.client.get("/dead-letters")).text()
        async with site.hotline.db() as session:
            written = await session.scalar(select(Case).where(Case.linkedid == "100.9"))
            logged = await session.scalar(select(AuditEntry).where(AuditEntry.action == "retry_dead_letters"))
    finally:
        await writer.stop()
    assert "100.9" not in page and not writer.dead
    assert written is not None and written.number == site.numbers["101"]
    assert written.caller_name == "<script>alert(1)</script>" and logged is not None


async def test_a_case_shows_the_callbacks_its_caller_asked_for(site: Site) -> None:
    now = datetime.now(UTC)
    async with site.hotline.db() as session, session.begin():
        asked = await queued_callbacks.ask(
            session,
            site.settings.queued_callbacks,
            linkedid="100.1",
            case_number=site.numbers["101"],
            queue="operator",
            number="0912000111",
            topic="operator",
            joined_at=now,
            now=now,
        )
        await queued_callbacks.placing(session, asked.callback.id, "qcb-1-1-aa")
        await queued_callbacks.tried(
            session, site.settings.queued_callbacks, "qcb-1-1-aa", "ANSWER", "101", "/x.wav", now
        )
    await sign_in(site, "an")
    shown = (await (await site.client.get(f"/api/v1/cases/{site.numbers['101']}")).json())["callbacks"]
    assert [(c["status"], c["tries"], c["agent"], c["number"]) for c in shown] == [
        ("reached", 1, "101", mask_number("0912000111"))
    ]
    page = await (await site.client.get(f"/cases/{site.numbers['101']}")).text()
    assert 'data-status="reached"' in page and "đã gọi được" in page


async def test_a_worklist_voice_message_plays_audited_and_only_from_the_recordings_folder(site: Site) -> None:
    message = wav(site.settings.recordings_path / "2026" / "12" / "03" / "w-message.wav")
    outside = wav(site.settings.state_path / "elsewhere.wav")
    now = datetime.now(UTC)
    async with site.hotline.db() as session, session.begin():
        ids = []
        for n, path in ((site.numbers["101"], message), (site.numbers["102"], outside)):
            case = await session.scalar(select(Case).where(Case.number == n))
            assert case is not None
            case.voicemail = str(path)
            entry = MissedCall(
                caller=f"09120001{len(ids)}1",
                status="open",
                first_case_id=case.id,
                last_case_id=case.id,
                voicemail_case_id=case.id,
                calls=1,
                topic="operator",
                outcome="voicemail",
                first_at=now,
                last_at=now,
            )
            session.add(entry)
            await session.flush()
            ids.append(entry.id)
    await sign_in(site, "an")
    played = await site.client.get(f"/api/v1/worklist/{ids[0]}/voicemail")
    assert played.status == 200 and (await played.read()) == message.read_bytes()
    # A row pointing outside the recordings folder (damaged, or written by someone it should not be) serves
    # nothing; neither does an entry that does not exist.
    assert (await site.client.get(f"/api/v1/worklist/{ids[1]}/voicemail")).status == 404
    assert (await site.client.get("/api/v1/worklist/999999/voicemail")).status == 404
    async with site.hotline.db() as session:
        audited = await session.scalars(select(AuditEntry).where(AuditEntry.action == "recording.play"))
        assert [(a.actor, a.target) for a in audited] == [("an", site.numbers["101"])]


async def test_an_admin_sees_the_messages_given_up_on_and_sends_them_again(site: Site) -> None:
    from casework import workflow as wf
    from channels import outbox
    from hotline.db.models import OutboxMessage

    now = datetime.now(UTC)
    async with site.hotline.db() as session, session.begin():
        request = wf.open_request(
            "10000024", wf.Actor("web", None), now, topic="health", words="x", contact_email="a@b.vn"
        )
        session.add(request)
        await session.flush()
        parked = outbox.queue(request, "answer", "email", "<b>x</b>@b.vn", "Kết quả", "y", now)
        parked.status, parked.attempts, parked.error = "failed", 9, "550 <i>mailbox unavailable</i>"
        session.add(parked)
    await sign_in(site, "an")
    assert (await site.client.get("/dead-letters")).status == 403
    csrf = await sign_in(site, "admin")
    page = await (await site.client.get("/dead-letters")).text()
    assert "10000024" in page and "550 &lt;i&gt;mailbox unavailable" in page and "<i>mailbox" not in page
    reply = await site.client.post(
        "/dead-letters/messages", data={"csrf": csrf, "message": str(parked.id)}, allow_redirects=False
    )
    assert reply.status == 303 and reply.headers["Location"] == "/dead-letters?resent=1"
    async with site.hotline.db() as session:
        again = await session.get(OutboxMessage, parked.id)
        logged = await session.scalar(select(AuditEntry).where(AuditEntry.action == "send_messages_again"))
    assert again is not None and (again.status, again.attempts) == ("pending", 0)
    assert logged is not None and logged.target == str(parked.id)
    assert "10000024" not in await (await site.client.get("/dead-letters")).text()
