"""The AMI events the bridge follows. manager.conf lets only these through to the bridge's AMI user (the
rest of Asterisk's chatter, RTCP reports above all, is never sent), so a handler added for an event not
listed here would never run: tests/test_asterisk_contract.py checks the handler tables against these."""

from __future__ import annotations

# ami_bridge.calls.CallTracker: what a call did (VarSet comes through the variable filter instead).
CALL_EVENTS = frozenset(
    {
        "Newchannel",
        "NewCallerid",
        "VarSet",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentRingNoAnswer",
        "AgentConnect",
        "AgentComplete",
        "Hold",
        "Unhold",
        "BlindTransfer",
        "AttendedTransfer",
        "Hangup",
    }
)
# ami_bridge.live.LiveBoard: agents' membership, pauses and devices, and whom a caller rings.
MEMBER_EVENTS = frozenset(
    {
        "QueueMemberAdded",
        "QueueMemberStatus",
        "QueueMemberPause",
        "QueueMemberRemoved",
        "AgentCalled",
        "AgentRingNoAnswer",
        "AgentConnect",
        "AgentComplete",
        "QueueCallerAbandon",
        "QueueCallerLeave",
    }
)
# channels.queued_callbacks.Dispatcher: the dialplan's report of each try of a queued callback (a
# UserEvent named QCB_EVENT), and its stand-in's channels coming and going and being answered.
CALLBACK_EVENTS = frozenset({"UserEvent", "Newchannel", "Hangup", "AgentConnect"})
# Events of the tracker after which the board recomputes agents' states (a caller hanging up, hold) and
# those that change only what a screen lists (a new caller, a caller joining or leaving a queue).
AGENT_STATE_EVENTS = frozenset({"Hangup", "Hold", "Unhold"})
SCREEN_EVENTS = frozenset({"Newchannel", "QueueCallerJoin", "QueueCallerLeave"})

# What manager.conf's event filter names (VarSet has a filter of its own, on the variable's name).
FILTERED = tuple(sorted((CALL_EVENTS | MEMBER_EVENTS | CALLBACK_EVENTS) - {"VarSet"}))
# Events the filter above lets through too (its names are regular expressions Asterisk matches against the
# event, not whole names) that the bridge does not need.
UNWANTED = ("HangupRequest", "SoftHangupRequest")
