"""Menu trees as data: load a flow file (YAML) into typed nodes, with the line of every node kept so that
each validation error can name the file, the line and the fix.

A flow is a set of named nodes and a start node. Node types:
  hours      branch on business hours:            open, closed
  play       play prompts, go on:                 prompt, next, by_did {number: prompt}
  menu       a choice by key:                     prompt, options {key: target}, timeout,
                                                  retries, silences, invalid_prompt, timeout_prompt,
                                                  repeat_key, back_key, on_fail
  collect    read several digits into a variable: prompt, variable, min_digits, max_digits, timeout,
                                                  retries, invalid_prompt, next, on_fail
  case_number  tell the caller their case number: prompt, repeat_prompt, next
  case_status  say the status of a case number
               the caller entered (collect):      variable, next
  queue      leave the IVR for a topic's queue:   queue, topic
  voicemail  leave the IVR to record a message:   queue, topic
  end        say goodbye and hang up:             prompt
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from hotline.errors import HotlineError

KEYS = frozenset("0123456789*#")
EXITS = frozenset({"queue", "voicemail", "end"})


class FlowError(HotlineError):
    """One or more problems in a flow file; each line says file:line: what is wrong and the fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Option:
    key: str
    target: str
    topic: str = ""  # a menu choice can name the topic the case is filed under


@dataclass(frozen=True)
class Node:
    name: str
    type: str
    line: int
    prompts: tuple[str, ...] = ()
    next: str = ""
    options: tuple[Option, ...] = ()
    timeout: float = 5.0
    retries: int = 3
    # Silences in a row after which a menu gives up (on_fail) even with tries left: a caller who presses
    # nothing may have no keypad, or not understand the menu; they should reach a person soon.
    silences: int = 0  # 0: as many as retries
    invalid_prompt: str = ""
    timeout_prompt: str = ""
    repeat_key: str = ""
    back_key: str = ""
    on_fail: str = ""
    open: str = ""
    closed: str = ""
    variable: str = ""
    min_digits: int = 1
    max_digits: int = 1
    queue: str = ""
    topic: str = ""
    repeat_prompt: str = ""
    # A play node may greet callers of one number differently (the DID is kept on the call).
    by_did: tuple[tuple[str, str], ...] = ()

    def targets(self) -> list[tuple[str, str]]:
        """(field, target) for every edge leaving this node."""
        edges = [(f"options.{o.key}", o.target) for o in self.options]
        for name in ("next", "on_fail", "open", "closed"):
            value = getattr(self, name)
            if value:
                edges.append((name, value))
        return edges

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)

    @property
    def is_exit(self) -> bool:
        return self.type in EXITS


@dataclass(frozen=True)
class Flow:
    path: Path
    start: str
    nodes: dict[str, Node]
    lines: dict[str, int] = field(default_factory=dict)

    def node(self, name: str) -> Node:
        return self.nodes[name]

    def prompts(self) -> set[str]:
        out: set[str] = set()
        for n in self.nodes.values():
            out.update(n.prompts)
            out.update(p for p in (n.invalid_prompt, n.timeout_prompt, n.repeat_prompt) if p)
            out.update(p for _, p in n.by_did)
        return out


# -- loading -----------------------------------------------------------------------------------------
class _Spec:
    """What each node type takes; the loader refuses anything else, naming the allowed fields."""

    common: ClassVar[set[str]] = {"type", "description"}
    fields: ClassVar[dict[str, tuple[set[str], set[str]]]] = {
        # type: (required, optional)
        "hours": ({"open", "closed"}, set()),
        "play": ({"prompt", "next"}, {"by_did"}),
        "menu": (
            {"prompt", "options"},
            {
                "timeout",
                "retries",
                "silences",
                "invalid_prompt",
                "timeout_prompt",
                "repeat_key",
                "back_key",
                "on_fail",
            },
        ),
        "collect": (
            {"prompt", "variable", "next"},
            {"min_digits", "max_digits", "timeout", "retries", "invalid_prompt", "timeout_prompt", "on_fail"},
        ),
        "case_number": ({"prompt", "next"}, {"repeat_prompt", "timeout"}),
        "case_status": ({"variable", "next"}, set()),
        "queue": ({"queue"}, {"topic", "prompt"}),
        "voicemail": ({"queue"}, {"topic", "prompt"}),
        "end": (set(), {"prompt"}),
    }


def load(path: str | Path) -> Flow:
    """Parse and structurally check a flow file. Raises FlowError listing every problem found."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FlowError([f"{path}: no such flow file"]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise FlowError(
            [f"{where}: not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax there"]
        ) from None
    problems: list[str] = []
    if not isinstance(root, yaml.MappingNode):
        raise FlowError([f"{path}:1: a flow file is a mapping with 'start' and 'nodes'"])
    top = _mapping(root, path, problems)
    start_node = top.get("start")
    nodes_node = top.get("nodes")
    if start_node is None or nodes_node is None:
        raise FlowError([f"{path}:1: a flow needs 'start: <node name>' and 'nodes:'"])
    if not isinstance(nodes_node, yaml.MappingNode):
        raise FlowError([f"{path}:{nodes_node.start_mark.line + 1}: 'nodes' must be a mapping of name: node"])
    nodes: dict[str, Node] = {}
    # A node's line is the line of its name, where a reader looks for it.
    name_lines = {str(k.value): k.start_mark.line + 1 for k, _ in nodes_node.value}
    for name, node in _mapping(nodes_node, path, problems).items():
        parsed = _node(name, node, name_lines[name], path, problems)
        if parsed:
            nodes[name] = parsed
    start = str(yaml.safe_load(yaml.serialize(start_node)))
    flow = Flow(path=path, start=start, nodes=nodes)
    if problems:
        raise FlowError(problems)
    return flow


def _mapping(node: yaml.MappingNode, path: Path, problems: list[str]) -> dict[str, Any]:
    """Mapping children by key; a duplicate key is an error (PyYAML would keep the last silently)."""
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        if key in out:
            problems.append(
                f"{path}:{key_node.start_mark.line + 1}: '{key}' appears twice here; keep one "
                f"(the first is at line {out[key].start_mark.line + 1})"
            )
            continue
        out[key] = value_node
    return out


def _plain(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def _node(name: str, node: yaml.Node, line: int, path: Path, problems: list[str]) -> Node | None:
    where = f"{path}:{line}: node '{name}'"
    if not isinstance(node, yaml.MappingNode):
        problems.append(f"{where}: must be a mapping with a 'type'")
        return None
    raw = _mapping(node, path, problems)
    kind = str(_plain(raw["type"])) if "type" in raw else ""
    if kind not in _Spec.fields:
        problems.append(f"{where}: type '{kind}' is unknown; use one of {', '.join(sorted(_Spec.fields))}")
        return None
    required, optional = _Spec.fields[kind]
    allowed = required | optional | _Spec.common
    for key, value_node in raw.items():
        if key not in allowed:
            problems.append(
                f"{path}:{value_node.start_mark.line + 1}: node '{name}': '{key}' is not a field of a {kind} "
                f"node; use {', '.join(sorted(allowed - _Spec.common))}"
            )
    for key in sorted(required - raw.keys()):
        problems.append(f"{where}: a {kind} node needs '{key}'")
    values = {k: _plain(v) for k, v in raw.items() if k in allowed}
    kwargs: dict[str, Any] = {"name": name, "type": kind, "line": line}
    try:
        if "prompt" in values:
            prompt = values["prompt"]
            kwargs["prompts"] = tuple(str(p) for p in (prompt if isinstance(prompt, list) else [prompt]))
        for key in (
            "next",
            "on_fail",
            "open",
            "closed",
            "invalid_prompt",
            "timeout_prompt",
            "variable",
            "queue",
            "topic",
            "repeat_prompt",
        ):
            if key in values:
                kwargs[key] = str(values[key])
        for key in ("timeout",):
            if key in values:
                kwargs[key] = float(values[key])
                if not 0.5 <= kwargs[key] <= 60:
                    raise ValueError(f"timeout {values[key]} s: use 0.5 to 60 seconds")
        for key in ("retries", "silences", "min_digits", "max_digits"):
            if key in values:
                kwargs[key] = int(values[key])
                if not 1 <= kwargs[key] <= 20:
                    raise ValueError(f"{key} {values[key]}: use 1 to 20")
        for key in ("repeat_key", "back_key"):
            if key in values:
                kwargs[key] = _key(values[key])
        if kind == "menu":
            kwargs.setdefault("repeat_key", "*")
        if kind == "collect":
            kwargs.setdefault("max_digits", 10)
        if "by_did" in values:
            by_did = values["by_did"]
            if not isinstance(by_did, dict):
                raise ValueError(
                    'by_did must be a mapping of number: prompt, e.g. "02371022": welcome_mobile'
                )
            kwargs["by_did"] = tuple((str(k), str(v)) for k, v in by_did.items())
        if "options" in raw:
            kwargs["options"] = _options(raw["options"], name, path, problems)
    except (ValueError, TypeError) as exc:
        problems.append(f"{where}: {exc}")
        return None
    if kind in ("queue", "voicemail"):
        kwargs.setdefault("topic", kwargs.get("queue", ""))
    return Node(**kwargs)


def _key(value: Any) -> str:
    key = str(value)
    if key not in KEYS:
        raise ValueError(f"key {value!r} is not a phone key; use one of 0-9, * or # (quote * and #)")
    return key


def _options(node: yaml.Node, name: str, path: Path, problems: list[str]) -> tuple[Option, ...]:
    if not isinstance(node, yaml.MappingNode):
        raise ValueError("options must be a mapping of key: target")
    out = []
    for key, value in _mapping(node, path, problems).items():
        where = f"{path}:{value.start_mark.line + 1}: node '{name}'"
        if key not in KEYS:
            problems.append(f"{where}: option key {key!r} is not a phone key; use 0-9, '*' or '#' (quoted)")
            continue
        plain = _plain(value)
        if isinstance(plain, str):
            out.append(Option(key, plain))
        elif isinstance(plain, dict) and set(plain) <= {"to", "topic"} and "to" in plain:
            out.append(Option(key, str(plain["to"]), str(plain.get("topic", ""))))
        else:
            problems.append(f"{where}: option {key!r} must be a node name or {{to: node, topic: name}}")
    return tuple(out)
