"""How agents' phones and queues are named inside Asterisk, and back again: `PJSIP/agent101` is agent
101's phone and `q-health` the queue `health`, in the config, in AMI events and in queue_log."""

from __future__ import annotations

ENDPOINT_PREFIX = "agent"
QUEUE_PREFIX = "q-"


def endpoint(extension: str) -> str:
    return f"{ENDPOINT_PREFIX}{extension}"


def extension_of(channel_or_interface: str) -> str:
    """The agent extension in `PJSIP/agent101`, `PJSIP/agent101-0000002a` or `Local/...`; '' if none."""
    _, marker, tail = channel_or_interface.rpartition(f"/{ENDPOINT_PREFIX}")
    return tail.split("-")[0] if marker else ""


def queue_id(name: str) -> str:
    return f"{QUEUE_PREFIX}{name}"


def queue_name(queue: str) -> str:
    """The site's queue name for Asterisk's queue id (`q-health` -> `health`)."""
    return queue.removeprefix(QUEUE_PREFIX)


def node_of(uniqueid: str) -> str:
    """The node a uniqueid or linkedid comes from: the `systemname` each node's asterisk.conf sets, which
    Asterisk puts before the time ("a-1733312345.12"); "" for a single Asterisk, which sets none."""
    head, dash, _ = uniqueid.partition("-")
    return head if dash else ""
