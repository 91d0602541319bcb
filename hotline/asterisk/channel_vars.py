"""The channel variables the hotline shares with Asterisk, declared once.

The dialplan (hotline/asterisk/templates/extensions.conf.j2) and the IVR set them; the call tracker follows
them from VarSet events; the resynchronisation reads them back with Getvar; the case writer stores what
they carry. Every list of them is derived from here, and a test checks that the dialplan uses no name that
is not declared here.
"""

from __future__ import annotations

from enum import StrEnum


class Var(StrEnum):
    """Set on the caller's channel (inherited by the channels it creates)."""

    DID = "HOTLINE_DID"  # the hotline number dialled: set at entry, it makes the call one of ours
    START = "HOTLINE_START"  # when the call entered the hotline, epoch seconds with microseconds
    HOURS = "HOTLINE_HOURS"  # open | closed, by the site's business hours
    IVR_NODE = "HOTLINE_IVR_NODE"  # the menu the caller is in; the last one when they leave the IVR
    IVR_STEPS = "HOTLINE_IVR_STEPS"  # every node entered, when, and what went wrong there (menu_steps)
    PATH = "HOTLINE_PATH"  # keys chosen in menus, e.g. 4-2
    CASE_NO = "HOTLINE_CASE_NO"  # the case number the IVR read to the caller
    TOPIC = "HOTLINE_TOPIC"
    IVR_RESULT = "HOTLINE_IVR_RESULT"  # chosen | menu_failed | loop_guard | error
    DEST = "HOTLINE_DEST"  # queue-<topic> | voicemail-<topic> | end: set last, the dialplan routes on it
    FALLBACK = "HOTLINE_FALLBACK"  # why the dialplan sent the caller to an operator without the IVR
    QUEUE = "HOTLINE_QUEUE"  # the queue (or voice-message topic) the dialplan routes the caller to
    REC = "HOTLINE_REC"  # the recording of the conversation
    QUEUE_STATUS = "HOTLINE_QUEUE_STATUS"  # app_queue's QUEUESTATUS when the caller left without an agent
    OUTCOME = "HOTLINE_OUTCOME"  # voicemail, once the caller reached the voice message
    VOICEMAIL = "HOTLINE_VOICEMAIL"  # the voice message's file
    CALLBACK = "HOTLINE_CALLBACK"  # on a call back to a citizen: the outbox message it carries
    # On a call back handed to an agent: the request it is about (the agent's desk opens it, the case
    # becomes one of its contacts).
    REQUEST_NO = "HOTLINE_REQUEST_NO"
    # The caller's keypad rating of the call, 1 to 5, given after the agent hung up ([hotline-survey]).
    RATING = "HOTLINE_RATING"
    # On an agent's call back from the worklist: the channel Asterisk dials for the citizen once the
    # agent's phone answers.
    DIAL = "HOTLINE_DIAL"


class PlaceVar(StrEnum):
    """Of the queued callback (hotline/queued_callbacks.py): kept out of Asterisk's end record."""

    QUEUED_AT = "HOTLINE_QUEUED_AT"  # when the caller joined their queue, epoch seconds: their place
    # On a queued callback's stand-in in the queue (and on the call it makes): the callback's id.
    QCB = "HOTLINE_QCB"
    QCB_AGENT = "HOTLINE_QCB_AGENT"  # the endpoint of the agent who took the stand-in


# What the dialplan reports of each try of a queued callback, as a UserEvent (live) and as a queue_log line
# (for a bridge that was away): the callback's id, the try, Asterisk's DIALSTATUS and the agent.
QCB_EVENT = "HotlineQueuedCallback"
QCB_LOG_EVENT = "HOTLINE_QCB"
# The linkedid of a callback's stand-in (Originate ChannelId): qcb-<callback id>-<try>-<random>.
QCB_LINKEDID_PREFIX = "qcb-"


def collected(variable: str) -> str:
    """Where a `collect` node of a flow leaves the digits it read (e.g. HOTLINE_CASE_NUMBER)."""
    return f"HOTLINE_{variable.upper()}"


class Global(StrEnum):
    """Dialplan globals ([globals] in extensions.conf), rendered from the settings."""

    AGI = "HOTLINE_AGI"
    AGI_CALLBACK = "HOTLINE_AGI_CALLBACK"
    AGI_SWITCHES = "HOTLINE_AGI_SWITCHES"
    AGI_QCB = "HOTLINE_AGI_QCB"
    RECORDINGS = "HOTLINE_RECORDINGS"
    TZ = "HOTLINE_TZ"
    MAX_WAIT = "HOTLINE_MAX_WAIT_"  # + queue name
    AGENT = "HOTLINE_AGENT_"  # + endpoint: the agent's queues
    AGENT_PENALTY = "HOTLINE_AGENT_PENALTY_"  # + endpoint
    AGENT_NAME = "HOTLINE_AGENT_NAME_"  # + endpoint


class QueueVar(StrEnum):
    """What app_queue leaves on the caller's channel (setinterfacevar, setqueueentryvar in queues.conf)."""

    MEMBERNAME = "MEMBERNAME"  # the agent who answered
    MEMBERINTERFACE = "MEMBERINTERFACE"  # that agent's phone, e.g. PJSIP/agent101
    QEHOLDTIME = "QEHOLDTIME"  # seconds the caller waited before that agent answered


# The variables the AMI bridge follows from VarSet events (Asterisk sends it no other), and the field of
# the call (ami_bridge.calls.Call) each fills.
TRACKED: dict[str, str] = {
    Var.DID: "did",
    Var.PATH: "ivr_path",
    Var.TOPIC: "topic",
    Var.IVR_RESULT: "ivr_result",
    Var.DEST: "destination",
    Var.CASE_NO: "number",
    Var.REC: "recording",
    Var.VOICEMAIL: "voicemail",
    Var.OUTCOME: "outcome_hint",
    Var.HOURS: "hours",
    Var.QUEUE_STATUS: "queue_status",
    Var.FALLBACK: "fallback",
    Var.IVR_NODE: "ivr_node",
    Var.IVR_STEPS: "ivr_steps",
    Var.REQUEST_NO: "request_number",
    Var.RATING: "rating",
    PlaceVar.QCB: "queued_callback",
}

# What the resynchronisation reads back from each live call's first channel.
RESYNC = (*Var, *QueueVar, *PlaceVar)

# Asterisk's own record of each call: at hang-up the dialplan writes one line to queue_log
# (`QueueLog(NONE,<linkedid>,NONE,HOTLINE_END,...)`) with these values, each URI-encoded so that no value
# can break the line. The bridge reads it back to complete the calls it did not see end. The field names
# are the record's; the values the dialplan expressions that fill them, in this order.
END_EVENT = "HOTLINE_END"
END_RECORD: dict[str, str] = {
    "version": "1",
    "start": f"${{{Var.START}}}",
    "end": "${STRFTIME(,,%s.%6q)}",
    "caller": "${CALLERID(num)}",
    "caller_name": "${CALLERID(name)}",
    "cause": "${HANGUPCAUSE}",
    **{var.name.lower(): f"${{{var}}}" for var in Var if var is not Var.START},
    **{var.name.lower(): f"${{{var}}}" for var in QueueVar},
}
