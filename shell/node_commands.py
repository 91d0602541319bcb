"""`hotline node status | drain | resume`: the nodes behind the edge, as an operator upgrading one sees
them (docs/high-availability.md: a planned stop loses no call)."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from hotline import settings
from hotline.errors import AMIError, HotlineError
from shell.callsim import connect_ami
from shell.edge import EdgeControl

POLL_SECONDS = 1.0


def add_parser(sub: Any) -> None:
    nodes = sub.add_parser("node", help="the Asterisk nodes behind the edge").add_subparsers(metavar="ACTION")
    nodes.add_parser("status", help="each node's state at the edge and its calls").set_defaults(
        func=cmd_status
    )
    p = nodes.add_parser("drain", help="send no new call to a node (before stopping it)")
    p.add_argument("name")
    p.add_argument(
        "--wait", type=float, default=0, help="then wait up to this many seconds for its calls to end"
    )
    p.set_defaults(func=cmd_drain)
    p = nodes.add_parser("resume", help="let a drained node take calls again")
    p.add_argument("name")
    p.set_defaults(func=cmd_resume)


def cmd_status(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    states = EdgeControl(site).states()
    report = {
        node.name: {
            "edge": states.get(node.name, "unknown"),
            "channels": asyncio.run(_channels(site, node.name)),
        }
        for node in site.nodes
    }
    print(json.dumps(report, indent=2))
    return 0


def cmd_drain(args: argparse.Namespace) -> int:
    drain(settings.load(args.settings), args.name, args.wait)
    return 0


def drain(site: settings.Settings, name: str, wait: float = 0, say: Callable[[str], None] = print) -> None:
    """Take the node out of the edge's rotation; with `wait`, until its calls ended (HotlineError when
    they did not in time)."""
    EdgeControl(site).drain(name)
    say(f"node {name}: no new calls (its calls go on)")
    if not wait:
        return
    deadline = time.monotonic() + wait
    while (left := asyncio.run(_channels(site, name))) > 0:
        if time.monotonic() > deadline:
            raise HotlineError(f"node {name} still holds {left} channel(s) after {wait:.0f} s")
        time.sleep(POLL_SECONDS)
    say(f"node {name}: no calls left; it can be stopped")


def cmd_resume(args: argparse.Namespace) -> int:
    site = settings.load(args.settings)
    EdgeControl(site).resume(args.name)
    print(f"node {args.name}: takes calls again once it answers the edge's probes")
    return 0


async def _channels(site: settings.Settings, name: str) -> int:
    """The channels the node holds now (-1: its AMI does not answer)."""
    try:
        ami = await connect_ami(site.for_node(name), events="off")
    except AMIError:
        return -1
    try:
        listing = await ami.action_list("CoreShowChannels")
        return sum(1 for m in listing if m.get("Event") == "CoreShowChannel")
    finally:
        await ami.close()
