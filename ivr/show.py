"""Print a flow as an indented tree and write it as a Mermaid diagram."""

from __future__ import annotations

from ivr.flow import Flow, Node


def tree(flow: Flow) -> str:
    lines: list[str] = []
    seen: set[str] = set()

    def visit(name: str, label: str, depth: int) -> None:
        node = flow.node(name)
        head = f"{'  ' * depth}{label}{name} [{node.type}{_detail(node)}]"
        if name in seen:
            lines.append(head + " (see above)")
            return
        seen.add(name)
        lines.append(head)
        for field, target in node.targets():
            key = field.removeprefix("options.")
            visit(target, f"{key} -> ", depth + 1)

    visit(flow.start, "", 0)
    return "\n".join(lines)


def mermaid(flow: Flow) -> str:
    out = ["flowchart TD"]
    for node in flow.nodes.values():
        out.append(f'  {node.name}["{node.name}<br/>{node.type}{_detail(node)}"]')
    for node in flow.nodes.values():
        for field, target in node.targets():
            out.append(f"  {node.name} -->|{field.removeprefix('options.')}| {target}")
    return "\n".join(out) + "\n"


def _detail(node: Node) -> str:
    if node.type in ("queue", "voicemail"):
        return f": {node.queue}"
    if node.prompts:
        return f": {', '.join(node.prompts)}"
    return ""
