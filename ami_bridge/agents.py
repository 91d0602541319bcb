"""Agents' queue membership and pauses through AMI: the same as *45 / *46 / *47 / *48 on their phones."""

from __future__ import annotations

from ami_bridge.actions import Actions
from ami_bridge.message import AMIMessage
from hotline.asterisk.naming import endpoint, queue_id
from hotline.errors import AMIError, SettingsError
from hotline.settings import Agent, Settings


def agent(settings: Settings, extension: str) -> Agent:
    for a in settings.agents:
        if a.extension == extension:
            return a
    raise SettingsError(
        f"no agent {extension!r} in [[agents]]; known: {', '.join(a.extension for a in settings.agents)}"
    )


async def join(ami: Actions, a: Agent, queue: str) -> AMIMessage:
    """The agent's phone a member of one queue, as *45 makes it; Asterisk's reply."""
    interface = f"PJSIP/{endpoint(a.extension)}"
    return await ami.action(
        "QueueAdd",
        Queue=queue_id(queue),
        Interface=interface,
        Penalty=a.penalty,
        MemberName=a.name,
        StateInterface=interface,
    )


async def leave(ami: Actions, a: Agent, queue: str) -> AMIMessage:
    return await ami.action("QueueRemove", Queue=queue_id(queue), Interface=f"PJSIP/{endpoint(a.extension)}")


async def login(ami: Actions, settings: Settings, extension: str) -> list[str]:
    """Add the agent to each of their queues; returns the queues joined now (already there is fine)."""
    a = agent(settings, extension)
    joined = []
    for name in a.queues:
        reply = await join(ami, a, name)
        if reply.response == "Success":
            joined.append(name)
        elif "Already there" not in reply.message:
            raise AMIError(f"logging {a.extension} in to {name} failed: {reply.message}")
    return joined


async def logout(ami: Actions, settings: Settings, extension: str) -> list[str]:
    a = agent(settings, extension)
    left = []
    for name in a.queues:
        reply = await leave(ami, a, name)
        if reply.response == "Success":
            left.append(name)
        elif "Not there" not in reply.message:
            raise AMIError(f"logging {a.extension} out of {name} failed: {reply.message}")
    return left


async def pause(ami: Actions, settings: Settings, extension: str, paused: bool, reason: str = "") -> None:
    """Pause or unpause the agent in every queue they are in, with a reason the wallboard shows."""
    a = agent(settings, extension)
    reply = await ami.action(
        "QueuePause", Interface=f"PJSIP/{endpoint(a.extension)}", Paused=str(paused).lower(), Reason=reason
    )
    if reply.response != "Success":
        raise AMIError(f"{'pausing' if paused else 'unpausing'} {a.extension} failed: {reply.message}")
