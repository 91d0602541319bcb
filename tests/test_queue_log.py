"""Reading Asterisk's queue_log: the dialplan's end lines with URI-encoded values (any caller ID), app_queue's
lines, a line still being written, a position kept across restarts, a rotated file, and garbage."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from ami_bridge.calls import Call, complete_from_record
from ami_bridge.queue_log import QueueLogReader
from hotline.asterisk.channel_vars import END_EVENT, END_RECORD


def end_line(linkedid: str, at: float, **values: str) -> str:
    fields = {name: "" for name in END_RECORD} | {"version": "1"} | values
    encoded = "|".join(quote(fields[name], safe="") for name in END_RECORD)
    return f"{int(at)}|{linkedid}|NONE|NONE|{END_EVENT}|{encoded}\n"


LAST = end_line("1.9", 1795300051, did="02371022", start="1795300049.5")


def test_end_lines_and_queue_lines_make_one_record_per_call(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    hostile = "A|B\x00C\u202e Nguyễn 👵 " + "x" * 300
    log.write_text(
        "1795300000|NONE|q-operator|Nguyễn Văn An|PAUSE|break\n"
        "1795300010|1.5|q-operator|NONE|ENTERQUEUE||0912345678|1\n"
        "1795300017|1.5|q-operator|Nguyễn Văn An|CONNECT|7|1.6|0\n"
        "garbage without fields\n"
        "not-a-time|x|q|a|ENTERQUEUE\n"
        "1795300047|1.5|q-operator|Nguyễn Văn An|COMPLETECALLER|7|30|1\n"
        + end_line(
            "1.5",
            1795300047,
            start="1795300001.250000",
            end="1795300047.500000",
            caller="0912345678",
            caller_name=hostile,
            cause="16",
            did="1022",
            path="0",
            ivr_node="main_menu",
            case_no="10000016",
            queue="operator",
            memberinterface="PJSIP/agent101",
            membername="Nguyễn Văn An",
        )
        + "1795300050|1.9|q-operator|NONE|ENTERQUEUE||0900000000|1\n"
        + LAST[:40],  # Asterisk is still writing this line
        encoding="utf-8",
    )
    reader = QueueLogReader(log, tmp_path / "position")
    records = reader.read_new()
    assert set(records) == {"1.5"} and reader.bad_lines == 2
    record = records["1.5"]
    assert record.end["caller_name"] == hostile and [q.event for q in record.queue_lines] == [
        "ENTERQUEUE",
        "CONNECT",
        "COMPLETECALLER",
    ]
    call = Call(linkedid="1.5", started_at=record.queue_lines[0].at)
    ended, cause = complete_from_record(call, record)
    assert (call.did, call.ivr_path, call.ivr_node, call.number, call.queue) == (
        "1022",
        "0",
        "main_menu",
        "10000016",
        "operator",
    )
    assert (call.agent, call.agent_name, call.wait_seconds, call.talk_seconds) == (
        "101",
        "Nguyễn Văn An",
        7.0,
        30.0,
    )
    assert (
        call.started_at.timestamp() == 1795300001.25 and ended.timestamp() == 1795300047.5 and cause == "16"
    )
    assert call.caller_name == hostile.replace("\x00", " ").replace("\u202e", " ")  # the pipe is kept
    assert [kind for _, kind, _ in call.timeline] == ["queued", "answered"]

    # Not committed: a restart reads the same again. Committed: only what comes next.
    assert set(QueueLogReader(log, tmp_path / "position").read_new()) == {"1.5"}
    reader.commit()
    with log.open("a", encoding="utf-8") as f:
        f.write(LAST[40:])  # the rest of the line that was being written
        f.write(end_line("2.1", 1795300060, did="1022", end="1795300060.1"))
    later = QueueLogReader(log, tmp_path / "position")
    found = later.read_new()
    assert set(found) == {"1.9", "2.1"} and found["1.9"].end["did"] == "02371022"
    assert [q.event for q in found["1.9"].queue_lines] == ["ENTERQUEUE"]
    later.commit()
    assert later.read_new() == {}

    # Rotated: a new file is read from its start.
    log.rename(tmp_path / "queue_log.1")
    log.write_text(end_line("3.1", 1795300070, did="02371022"), encoding="utf-8")
    assert set(later.read_new()) == {"3.1"}
