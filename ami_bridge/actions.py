"""AMI actions sent by the parts above the bridge (the call backs, the worklist, listening in, the
simulated caller), through the bridge's session or a connection of their own, with one way to tell a
refusal: an action Asterisk does not answer with Success raises AMIActionRefused with Asterisk's reason."""

from __future__ import annotations

from typing import Any, Protocol

from ami_bridge.message import AMIMessage
from hotline.errors import AMIActionRefused


class Actions(Protocol):
    """Whatever sends AMI actions: the bridge's AMISession, or an AMIConnection."""

    async def action(self, name: str, **fields: Any) -> AMIMessage: ...


async def act(ami: Actions, name: str, **fields: Any) -> AMIMessage:
    """Send the action; its reply, or AMIActionRefused with Asterisk's reason."""
    reply = await ami.action(name, **fields)
    if reply.response != "Success":
        raise AMIActionRefused(f"{name} refused: {reply.message or reply.response or 'no reason given'}")
    return reply


async def originate(ami: Actions, **fields: Any) -> AMIMessage:
    """A call Asterisk places in the background (Async): accepted, or AMIActionRefused. Whether it is
    answered comes later, as events (OriginateResponse, the dialplan's own variables)."""
    return await act(ami, "Originate", Async="true", **fields)
