"""`hotline flows check`: the shipped flow passes; broken copies fail naming file, line and fix."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ivr import flow as flow_file
from ivr import validate
from ivr.flow import FlowError
from ivr.prompts import catalog
from tests.conftest import ROOT, TEST_SETTINGS

FLOW = ROOT / "ivr" / "flows" / "hotline.yaml"
QUEUES = ["violation", "suggestion", "welfare", "health", "operator"]


def _check(path: Path) -> None:
    validate.check(flow_file.load(path), queues=QUEUES, prompts=catalog.load().prompts)


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = FLOW.read_text(encoding="utf-8")
    assert old in text, old
    out = tmp_path / "hotline.yaml"
    out.write_text(text.replace(old, new, 1), encoding="utf-8")
    return out


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_the_shipped_flow_is_sound() -> None:
    _check(FLOW)


@pytest.mark.parametrize(
    ("old", "new", "needle", "expected"),
    [
        (
            '"2": {to: suggestion, topic: suggestion}',
            '"2": {to: sugestion, topic: suggestion}',
            "  main_menu:",
            r"node 'main_menu': options\.2 'sugestion' is not a node; use one of",
        ),
        (
            "    prompt: health_menu\n",
            "    prompt: helth_menu\n",
            "  health_menu:",
            r"prompt 'helth_menu' is not in the prompt catalogue; add it to ivr/prompts/catalog\.yaml",
        ),
        (
            "    queue: welfare\n",
            "    queue: wellfare\n",
            "  welfare_queue:",
            r"queue 'wellfare' is not in the settings' \[\[queues\]\]",
        ),
        (
            '      "0": operator\n',
            '      "0": operator\n      "0": goodbye\n',
            '"0": goodbye',
            r"'0' appears twice here; keep one \(the first is at line \d+\)",
        ),
        (
            '    repeat_key: "*"\n    on_fail: operator',
            '    repeat_key: "1"\n    on_fail: operator',
            "  main_menu:",
            r"key '1' is both an option and the repeat_key",
        ),
        (
            "    timeout: 5\n    retries: 3",
            "    timeout: 5\n    retrys: 3",
            "retrys",
            r"'retrys' is not a field of a menu node; use .*retries",
        ),
        ("    type: end", "    type: finish", "  goodbye:", r"type 'finish' is unknown; use one of"),
    ],
)
def test_each_mistake_names_file_line_and_fix(
    tmp_path: Path, old: str, new: str, needle: str, expected: str
) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(FlowError) as err:
        _check(path)
    message = str(err.value)
    assert re.search(expected, message), message
    assert f"{path}:{_line_of(path, needle)}:" in message, message


def test_unreachable_node_and_node_without_a_way_out(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        "start: menu\n"
        "nodes:\n"
        "  menu:\n"
        "    type: menu\n"
        "    prompt: main_menu\n"
        "    options:\n"
        '      "1": again\n'
        "  again:\n"
        "    type: play\n"
        "    prompt: welcome\n"
        "    next: menu\n"
        "  orphan:\n"
        "    type: end\n"
    )
    with pytest.raises(FlowError) as err:
        _check(path)
    problems = err.value.problems
    assert any(f"{path}:12: node 'orphan': never reached from start 'menu'" in p for p in problems)
    assert any(f"{path}:3: node 'menu': a caller here has no way out" in p for p in problems)
    assert any(f"{path}:8: node 'again': a caller here has no way out" in p for p in problems)


def test_bad_yaml_gives_the_line(tmp_path: Path) -> None:
    path = _broken(tmp_path, "  welcome:\n    type: play", "  welcome:\n    type: [play")
    with pytest.raises(FlowError, match=rf"{re.escape(str(path))}:\d+: not valid YAML"):
        _check(path)


def test_command_exits_non_zero_on_a_broken_flow(tmp_path: Path) -> None:
    broken = _broken(tmp_path, "    next: main_menu\n", "    next: main_manu\n")
    cmd = [sys.executable, "-m", "shell.cli", "--settings", str(TEST_SETTINGS), "flows", "check"]
    ok = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([*cmd, str(broken)], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 1
    assert f"{broken}:" in bad.stderr and "'main_manu' is not a node" in bad.stderr
