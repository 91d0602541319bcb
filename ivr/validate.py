"""Meaning checks on a loaded flow: targets exist, every node is reachable and has a way out, keys do not
clash, queues exist in the settings, prompts exist in the catalogue. Each problem names file, line, fix."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection

from ivr.flow import Flow, FlowError, Node

# Prompts the engine itself plays for some node types.
ENGINE_PROMPTS = {
    "case_status": [
        "case_not_found",
        "case_status_new",
        "case_status_in_progress",
        "case_status_resolved",
        # One per status as the citizen is told it (casework/citizen_status.py: Shown).
        "case_status_request_received",
        "case_status_request_forwarded",
        "case_status_request_in_progress",
        "case_status_request_not_ours",
        "case_status_request_answered",
        "case_status_request_not_fixed",
        "case_status_request_rejected",
        "case_status_request_merged",
    ],
}


def check(flow: Flow, queues: Collection[str] = (), prompts: Collection[str] | None = None) -> None:
    """Raise FlowError with every problem; return quietly when the flow is sound."""
    problems: list[str] = []
    where = _where(flow)
    if flow.start not in flow.nodes:
        problems.append(f"{flow.path}:1: start '{flow.start}' is not a node; use one of {_names(flow)}")
    for node in flow.nodes.values():
        for field, target in node.targets():
            if target not in flow.nodes:
                problems.append(f"{where(node)}: {field} '{target}' is not a node; use one of {_names(flow)}")
        problems += _menu_keys(node, where(node))
        if node.type in ("queue", "voicemail") and queues and node.queue not in queues:
            problems.append(
                f"{where(node)}: queue '{node.queue}' is not in the settings' [[queues]]; "
                f"use one of {', '.join(sorted(queues))}"
            )
        if prompts is not None:
            used = [*node.prompts, node.invalid_prompt, node.timeout_prompt, node.repeat_prompt]
            used += [p for _, p in node.by_did]
            used += ENGINE_PROMPTS.get(node.type, [])
            for prompt in used:
                if prompt and prompt not in prompts:
                    problems.append(
                        f"{where(node)}: prompt '{prompt}' is not in the prompt catalogue; "
                        "add it to ivr/prompts/catalog.yaml or fix the name"
                    )
    if problems:
        raise FlowError(problems)
    reachable = _reachable(flow)
    for node in flow.nodes.values():
        if node.name not in reachable:
            problems.append(
                f"{where(node)}: never reached from start '{flow.start}'; link it from a menu or delete it"
            )
    leaves = _can_leave(flow)
    for node in flow.nodes.values():
        if node.name in reachable and node.name not in leaves:
            problems.append(
                f"{where(node)}: a caller here has no way out (nothing from it leads to a queue, a voice "
                "message or an end); add an option or a 'next' that does"
            )
    collected = {n.variable for n in flow.nodes.values() if n.type == "collect"}
    for node in flow.nodes.values():
        if node.type == "case_status" and node.variable not in collected:
            problems.append(
                f"{where(node)}: variable '{node.variable}' is not filled by any collect node; "
                "collect the case number into it first"
            )
    if problems:
        raise FlowError(problems)


def _menu_keys(node: Node, where: str) -> list[str]:
    problems = []
    for special in ("repeat_key", "back_key"):
        key = getattr(node, special)
        if key and node.option(key):
            problems.append(
                f"{where}: key '{key}' is both an option and the {special}; give one of them another key"
            )
    if node.repeat_key and node.repeat_key == node.back_key:
        problems.append(f"{where}: repeat_key and back_key are both '{node.repeat_key}'; use two keys")
    if node.type == "menu" and not node.options:
        problems.append(f"{where}: a menu needs at least one option")
    return problems


def _reachable(flow: Flow) -> set[str]:
    seen = {flow.start}
    todo = deque([flow.start])
    while todo:
        for _, target in flow.nodes[todo.popleft()].targets():
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _can_leave(flow: Flow) -> set[str]:
    """Nodes from which some path reaches an exit (queue, voicemail, end). A menu always has its on_fail
    way out (the operator queue by default), so a menu counts only through its own edges."""
    incoming: dict[str, list[str]] = {name: [] for name in flow.nodes}
    for node in flow.nodes.values():
        for _, target in node.targets():
            incoming[target].append(node.name)
    leaves = {n.name for n in flow.nodes.values() if n.is_exit}
    todo = deque(leaves)
    while todo:
        for source in incoming[todo.popleft()]:
            if source not in leaves:
                leaves.add(source)
                todo.append(source)
    return leaves


def _where(flow: Flow) -> Callable[[Node], str]:
    def where(node: Node) -> str:
        return f"{flow.path}:{node.line}: node '{node.name}'"

    return where


def _names(flow: Flow) -> str:
    names = sorted(flow.nodes)
    return ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
