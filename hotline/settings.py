"""The one settings file (hotline.toml) that describes a site.

Queues, agents and numbers are defined here once; the Asterisk configuration is rendered from it.
Errors name the key and say how to fix it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import re
import tomllib
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hotline import places
from hotline.errors import SettingsError

ENV_SETTINGS = "HOTLINE_SETTINGS"
ENV_DATABASE_URL = "HOTLINE_DATABASE_URL"
DEFAULT_FILE = "hotline.toml"
EXAMPLE_FILE = "hotline.example.toml"

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,30}$")]
Digits = Annotated[str, Field(pattern=r"^\+?[0-9]{2,20}$")]
HostPort = Annotated[str, Field(pattern=r"^[^\s:]+:[0-9]{1,5}$")]
QueueStrategy = Literal["ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "linear", "wrandom"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Site(Strict):
    name: str = "Tổng đài 1022"
    timezone: str = "Asia/Ho_Chi_Minh"
    language: Literal["vi", "en"] = "vi"
    # The province the hotline serves, by its code on the 2025 list ("38": Thanh Hóa): requests are placed
    # in its wards. "": any ward of the country ('hotline places provinces' lists the codes).
    province: str = Field("", pattern=r"^([0-9]{2})?$")


class Number(Strict):
    did: Digits
    label: str = ""
    # Carriers deliver the same number in several forms (842371022, +842371022).
    aliases: list[Digits] = []


class Trunk(Strict):
    enabled: bool = False
    host: str = ""
    port: int = Field(5060, ge=1, le=65535)
    # Source addresses the carrier sends calls from; calls from anywhere else never reach the hotline.
    match: list[str] = []
    username: str = ""
    registration: bool = False
    codecs: list[str] = ["alaw", "ulaw"]

    @model_validator(mode="after")
    def _needs_host(self) -> Trunk:
        if self.enabled and not self.host:
            raise ValueError("trunk.host is required when trunk.enabled = true (the carrier's SIP address)")
        return self


class Queue(Strict):
    name: Name
    label: str
    strategy: QueueStrategy = "rrmemory"
    ring_seconds: int = Field(15, ge=5, le=120, description="how long one agent rings")
    wrapup_seconds: int = Field(10, ge=0, le=600)
    max_wait_seconds: int = Field(300, ge=30, le=7200)
    overflow: Literal["voicemail", "operator", "end"] = "voicemail"
    announce_every_seconds: int = Field(60, ge=0, le=600)
    weight: int = Field(0, ge=0, le=10)


class Agent(Strict):
    extension: Annotated[str, Field(pattern=r"^[0-9]{2,6}$")]
    # The name travels through queue and dialplan arguments: no separators of theirs.
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^,;|&:()\"\r\n]+$")]
    queues: list[Name]
    penalty: int = Field(0, ge=0, le=10)


DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES: tuple[DayName, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


_SPAN = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")


def _span(text: str, where: str) -> tuple[time, time]:
    m = _SPAN.fullmatch(text)
    if not m:
        raise ValueError(f"{where} = {text!r}: write it as HH:MM-HH:MM, e.g. '07:30-11:30'")
    start, end = time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4]))
    if start >= end:
        raise ValueError(f"{where} = {text!r}: the start must be before the end")
    return start, end


class Hours(Strict):
    always_open: bool = False
    # Pretend it is this time (site time zone) when deciding open or closed: for trying the after-hours
    # menu and for tests. Leave unset in production.
    clock: datetime | None = None
    # "07:00-21:00"; a missing day is closed all day.
    weekly: dict[DayName, str] = {d: "07:00-21:00" for d in DAY_NAMES}
    holidays: list[date] = []

    @field_validator("weekly")
    @classmethod
    def _ranges(cls, weekly: dict[DayName, str]) -> dict[DayName, str]:
        for day, span in weekly.items():
            _span(span, f"hours.weekly.{day}")
        return weekly


class Calendar(Strict):
    """The offices' working time, on which requests' deadlines are counted (not the hotline's hours: the
    phones answer evenings and weekends, the agencies do not). Vietnamese public offices by default:
    Monday to Friday, 07:30-11:30 and 13:30-17:00."""

    weekly: dict[DayName, list[str]] = {
        d: ["07:30-11:30", "13:30-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")
    }
    # Days off beyond the week's (empty: [hours] holidays), and days off that are worked (a Saturday
    # worked in exchange for a bridge day), with Monday's hours.
    holidays: list[date] = []
    extra_working_days: list[date] = []

    @field_validator("weekly")
    @classmethod
    def _spans(cls, weekly: dict[DayName, list[str]]) -> dict[DayName, list[str]]:
        for day, spans in weekly.items():
            parsed = sorted(_span(s, f"calendar.weekly.{day}") for s in spans)
            for (_, end), (start, _) in itertools.pairwise(parsed):
                if start < end:
                    raise ValueError(f"calendar.weekly.{day}: {spans} overlap")
        return weekly


class Agency(Strict):
    """An office that answers requests: a department, a district, a commune."""

    name: Name
    label: str
    topics: list[str] = []  # the topics (or their first part) it usually answers: suggested on forwarding
    # The wards it answers for, by code ('hotline places wards NAME'): a commune's People's Committee. Its
    # topics then narrow what it answers there ([]: all); without wards it is a province-wide department.
    wards: list[str] = []
    email: str = ""  # where escalations and new requests are announced, when mail is configured
    calendar: Calendar | None = None  # its own working time, if it differs from the site's


class Topic(Strict):
    """What citizens ask about, as the public page, the public answers and Open311's services name it."""

    name: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", max_length=64)
    label: str
    description: str = ""
    group: str = ""
    keywords: list[str] = []


class Deadline(Strict):
    """Working hours an agency has to accept and to answer a request of a topic (its first part matches:
    health covers health.testing; "" covers every topic) and priority."""

    topic: str = ""
    priority: Literal["normal", "urgent"] = "normal"
    accept_hours: float = Field(gt=0)
    answer_hours: float = Field(gt=0)


def _default_deadlines() -> list[Deadline]:
    # Hanoi's rule for 1022: received within 8 working hours, 4 when urgent; answered within ten working
    # days, two when urgent. A province sets its own.
    return [
        Deadline(priority="normal", accept_hours=8, answer_hours=80),
        Deadline(priority="urgent", accept_hours=4, answer_hours=16),
    ]


class Mail(Strict):
    """The site's SMTP relay for telling people by e-mail (escalations); empty host: no e-mail. A
    password, when the relay asks for one, is in the secrets file as mail.password."""

    host: str = ""
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    username: str = ""
    sender: str = ""  # e.g. "Tổng đài 1022 <tongdai1022@tinh.gov.vn>"
    supervisors: list[str] = []  # told of every overdue request, with the agency's own address

    @model_validator(mode="after")
    def _sender_when_on(self) -> Mail:
        if self.host and not self.sender:
            raise ValueError("mail.sender is needed once mail.host is set (the From of the hotline's mail)")
        return self


class Mailbox(Strict):
    """The hotline's mailbox citizens write to, read over IMAP; empty host: e-mail does not open requests.
    Its password is in the secrets file as mailbox.password. Replies go out through [mail]."""

    host: str = ""
    port: int = Field(993, ge=1, le=65535)
    ssl: bool = True  # IMAP over TLS (993); false: plain IMAP (143), for a server on this machine only
    username: str = ""
    folder: str = "INBOX"
    address: str = ""  # the address citizens write to: mail from it is never taken (loops)
    poll_seconds: int = Field(30, ge=5, le=3600)
    topic: str = ""  # the topic a mailed request gets until the center sorts it
    # The authserv-id of the receiving mail server whose Authentication-Results header (RFC 8601) tells
    # whether a message's sender is who it says (DMARC, or DKIM aligned with From). Only its verdict
    # counts. Empty: no sender is taken as verified: mail still opens requests, but never joins one as its
    # citizen, and is answered without repeating anything the sender wrote.
    trusted_authserv_id: str = ""
    # At most this many automatic answers a day to one address whose mail was not verified.
    unverified_answers_per_day: int = Field(1, ge=0, le=100)

    @model_validator(mode="after")
    def _complete(self) -> Mailbox:
        if self.host and not (self.username and self.address):
            raise ValueError("mailbox.username and mailbox.address are needed once mailbox.host is set")
        return self


class Sms(Strict):
    """The SMS gateway (Kannel's HTTP interface; Kannel reaches the carrier over SMPP). Empty url: no SMS.
    The sendsms password is in the secrets file as sms.password."""

    url: str = ""  # e.g. "http://127.0.0.1:13013/cgi-bin/sendsms"
    username: str = ""
    sender: str = "1022"  # the hotline's number or brand name the citizen sees
    diacritics: bool = True  # false: Vietnamese without its marks (160 characters a message, not 70)
    most_parts: int = Field(4, ge=1, le=10)
    # How the gateway reaches the web app for delivery reports and messages that come in.
    callback_url: str = ""  # default: the web app's own address
    topic: str = ""  # the topic a request opened by SMS gets until the center sorts it


class Zalo(Strict):
    """A Zalo Official Account: its webhook (/webhooks/zalo) and the send API replies go through. Empty
    app_id: off. Secrets: zalo.oa_secret_key (signs the webhook) and zalo.access_token (the send API's)."""

    app_id: str = ""
    oa_id: str = ""
    send_url: str = "https://openapi.zalo.me/v3.0/oa/message/cs"
    topic: str = ""
    # Where the photos citizens send may be fetched from (these hosts and the names under them), and
    # private networks allowed all the same (none: only public addresses are ever asked).
    media_hosts: list[str] = ["zadn.vn", "zdn.vn", "zalo.me", "zaloapp.com"]
    media_networks: list[str] = []


class Facebook(Strict):
    """A Facebook page's Messenger: its webhook (/webhooks/facebook) and the Send API. Empty page_id: off.
    Secrets: facebook.app_secret (signs the webhook), facebook.page_token (the Send API's) and
    facebook.verify_token (what the page's webhook set-up is asked to give back)."""

    page_id: str = ""
    send_url: str = "https://graph.facebook.com/v19.0/me/messages"
    topic: str = ""
    # As for Zalo: Messenger's attachments are served from Facebook's CDN.
    media_hosts: list[str] = ["fbcdn.net", "fbsbx.com", "facebook.com"]
    media_networks: list[str] = []


class Callbacks(Strict):
    """The voice call back with an approved answer, for citizens who asked to be told by phone (and those
    who called, by default): Asterisk dials them ({number} in `dial`), reads the request's number and the
    answer, and asks for a rating by keypad."""

    enabled: bool = True
    dial: str = "PJSIP/{number}@trunk"  # the channel Originate dials; {number} is the citizen's
    caller_id: str = "1022"
    from_time: str = Field("07:30", pattern=r"^\d\d:\d\d$")  # calls only between these local times
    until_time: str = Field("20:00", pattern=r"^\d\d:\d\d$")
    attempts: int = Field(3, ge=1, le=10)
    ring_seconds: int = Field(30, ge=5, le=120)
    # Between two attempts: long enough for one call to ring and be talked through.
    wait_seconds: int = Field(1800, ge=20, le=86_400)
    longest_answer_chars: int = Field(800, ge=50)  # a longer answer is long (see `agent`)
    # When an agent tells the citizen the answer instead of the synthesised voice: "long" for answers
    # longer than longest_answer_chars (with "never" those are read in their first part, with a pointer to
    # the follow page), "always" for every call back; a supervisor may also choose it when approving. The
    # citizen hears the notice and the number, then waits in the queue of the request's topic (the
    # operators' when the topic has none) and rates the answer once the agent hangs up.
    agent: Literal["never", "long", "always"] = "long"


class Worklist(Strict):
    """The worklist of missed calls: agents call back from their own phone (the phone rings first, then
    Asterisk dials the citizen through [callbacks] dial, with its caller ID and ring time)."""

    tries: int = Field(3, ge=1, le=10)  # an entry no try reached closes after this many


class Survey(Strict):
    """After an ordinary call with an agent, a caller who stays on the line when the agent hangs up rates
    the call by keypad, 1 to 5 (the case keeps it; the agent and topic reports and the wallboard count it)."""

    enabled: bool = True
    wait_seconds: int = Field(6, ge=2, le=30)  # for the key, after the question


class QueuedCallbacks(Strict):
    """A caller waiting in a queue may press 9 to be called back instead of holding, keeping their
    place: offered `offer_after_seconds` after joining and every `offer_every_seconds`, and on joining
    when the expected wait is `long_wait_seconds` or more (the callers ahead times `handle_seconds`,
    shared by the agents logged in). The next free agent of the queue takes it at its turn; only then
    does Asterisk dial the citizen ([callbacks] dial, caller_id, ring_seconds). A try nobody answers is
    tried again after `retry_seconds`, up to `tries`; a callback no agent took within `expire_minutes`
    expires, and the citizen is on the worklist of missed calls. The offer is the queue's periodic
    announcement: Asterisk puts no caller through while one plays to them, so it is kept short and not
    frequent."""

    enabled: bool = True
    offer_after_seconds: int = Field(30, ge=0, le=3600)
    offer_every_seconds: int = Field(60, ge=15, le=3600)
    long_wait_seconds: int = Field(300, ge=0, le=7200)  # 0: never offered on joining
    handle_seconds: int = Field(180, ge=10, le=3600)
    tries: int = Field(3, ge=1, le=10)
    retry_seconds: int = Field(300, ge=5, le=86_400)
    expire_minutes: int = Field(240, ge=1, le=1440)


class SwitchSettings(Strict):
    """The emergency switches from a phone: the feature code supervisors dial, and how long what they
    switch on from there stays on (the web app asks for the end time)."""

    feature_code: str = Field("*1022", pattern=r"^\*[0-9]{2,6}$")
    phone_hours: float = Field(4.0, gt=0, le=168)


class Requests(Strict):
    # How long after its closing a citizen may reopen a request, and how near its due time a request is
    # flagged (a share of the time it was given).
    reopen_days: int = Field(30, ge=0)
    warn_at: float = Field(0.8, gt=0, lt=1)
    # How often a citizen may reopen one request (the center's staff may always): past it, a new request,
    # or a complaint under the law on complaints, is the way on.
    most_reopens: int = Field(2, ge=0, le=20)
    # How long after its closing a request's follow link (sent by e-mail and SMS) still opens it; the
    # number and the phone's last digits open it for as long as it is kept.
    link_days: int = Field(90, ge=1, le=3650)
    # One problem, one request: a new request is shown the open requests of its topic opened within these
    # days of it, in its ward or within these metres of its position, whose words are at least this alike
    # (0 to 1: the share of the shorter text's words and word pairs the other holds; docs/benchmarks.md
    # has the precision and recall these give on a generated set).
    duplicate_days: float = Field(7, gt=0, le=90)
    duplicate_meters: float = Field(300, ge=0, le=5000)
    duplicate_words: float = Field(0.35, ge=0, le=1)


class MapTiles(Strict):
    """The maps of requests by ward draw the wards from their centres and areas, with no tile server (no
    internet needed); a site with a tile server of its own names it here, as Leaflet's URL template."""

    tiles: str = Field("", pattern=r"^(https?://[^\s{}]+(\{[xyzs]\}[^\s{}]*)+)?$")  # …/{z}/{x}/{y}.png
    attribution: str = ""  # shown on the map, as the tiles' licence asks

    @property
    def tiles_origin(self) -> str:
        """scheme://host[:port] of the tile server, for the pages' Content-Security-Policy."""
        if not self.tiles:
            return ""
        scheme, _, rest = self.tiles.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"


class Portal(Strict):
    """The public web form (/report) through which citizens write to the hotline."""

    enabled: bool = True
    # Submissions accepted per hour from one address and for one phone number or e-mail address.
    per_address_hour: int = Field(10, ge=1, le=10_000)
    per_contact_hour: int = Field(3, ge=1, le=1000)
    files: int = Field(5, ge=0, le=10)
    # The consent line the citizen ticks (Decree 13/2023: purpose and retention of their personal data).
    consent: str = (
        "Tôi đồng ý để Tổng đài 1022 xử lý thông tin cá nhân trên nhằm tiếp nhận, chuyển cơ quan có thẩm "
        "quyền và trả lời yêu cầu này, theo Nghị định 13/2023/NĐ-CP."
    )


class Endpoint(Strict):
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class AMI(Endpoint):
    port: int = Field(5038, ge=1, le=65535)
    username: Name = "hotline"
    ping_seconds: float = Field(5.0, gt=0)
    # Asterisk's queue_log, read to complete calls that ended while the bridge was away; empty: the
    # sandbox's (<state_dir>/asterisk/log/queue_log). On a production Asterisk: /var/log/asterisk/queue_log.
    queue_log: str = ""
    # Where Asterisk accepts the bridge's AMI logins from (manager.conf permit), as ADDRESS or ADDRESS/BITS.
    # Empty: the loopback, which is right only when Asterisk runs on the bridge's machine.
    permit: str = ""

    @property
    def permit_network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        if self.permit:
            return ipaddress.ip_network(self.permit, strict=False)
        return ipaddress.ip_network("127.0.0.1/32")

    @field_validator("permit")
    @classmethod
    def _permit_is_a_network(cls, value: str) -> str:
        if value:
            ipaddress.ip_network(value, strict=False)  # ValueError: pydantic names the setting
        return value


class AGI(Endpoint):
    """`host:port` is where Asterisk's dialplan reaches the FastAGI server; `listen` where the server binds
    (empty: the same), e.g. 0.0.0.0:4573 when Asterisk is on another machine."""

    port: int = Field(4573, ge=1, le=65535)
    listen: HostPort | Literal[""] = ""
    # The addresses (ADDRESS or ADDRESS/BITS) allowed to open FastAGI sessions: Asterisk's. Empty: the
    # loopback only.
    allow: list[str] = []

    @property
    def listen_address(self) -> str:
        return self.listen or self.address

    @field_validator("allow")
    @classmethod
    def _allow_networks(cls, values: list[str]) -> list[str]:
        for value in values:
            ipaddress.ip_network(value, strict=False)
        return values


class SIP(Strict):
    bind: HostPort = "127.0.0.1:5060"
    # The address phones reach Asterisk at; printed with the softphone account.
    external_host: str = "127.0.0.1"
    rtp_start: int = Field(10000, ge=1024, le=65000)
    rtp_end: int = Field(10999, ge=1024, le=65535)


class IVR(Strict):
    # The menu tree; empty means the shipped ivr/flows/hotline.yaml.
    flow: str = ""
    # Where 'hotline prompts build' writes the sounds: <sounds_dir>/<language>/hotline/<prompt>.wav.
    sounds_dir: str = "ivr/prompts/sounds"


class Database(Strict):
    url: str = "sqlite+aiosqlite:///var/hotline.db"


class Recordings(Strict):
    dir: str = "recordings"


class Retention(Strict):
    """How long each kind of personal data is kept, in days: no longer than its purpose needs (Decree
    13/2023). `hotline serve` applies it every night at `run_at` (site time); `hotline privacy retention`
    applies it at once. docs/security.md gives the reasons for the defaults."""

    recordings: int = Field(365, ge=1)
    voice_messages: int = Field(365, ge=1)
    cases: int = Field(1825, ge=1)
    requests: int = Field(1825, ge=1)  # counted from their closing; open requests are never deleted
    timelines: int = Field(365, ge=1)  # each case's event-by-event record; the case itself stays
    audit: int = Field(1095, ge=1)
    sessions: int = Field(30, ge=1)  # signed-out and expired web sessions, revoked and expired API tokens
    asterisk_logs: int = Field(90, ge=1)  # queue_log and Asterisk's log files, once rotated
    run_at: time = time(2, 30)


class Web(Endpoint):
    port: int = Field(8080, ge=1, le=65535)
    # "auto": cookies get the Secure flag when the request came over HTTPS (directly or through a proxy
    # that says so in X-Forwarded-Proto); put the app behind HTTPS on an office network.
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    session_hours: int = Field(12, ge=1, le=24 * 14)
    # Service level: the share of answered calls answered within this many seconds of joining the queue.
    service_level_seconds: int = Field(20, ge=1, le=600)
    language: Literal["vi", "en"] = "vi"
    # Users of this role and above must sign in with a one-time code too ('hotline user totp NAME' gives
    # them one); empty: a second factor only for the users who have one.
    second_factor_role: Literal["", "agent", "supervisor", "admin"] = ""
    # The address citizens reach the public pages at (in links sent by e-mail and SMS); default: host:port.
    public_url: str = ""
    # The reverse proxies in front of the web app (addresses or networks, e.g. ["127.0.0.1"]): only from
    # them are Forwarded / X-Forwarded-For and X-Forwarded-Proto believed. Empty: the TCP peer is the client.
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an address or a network (e.g. 10.0.0.5 or 10.0.0.0/24)"
                ) from None
        return value

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class Privacy(Strict):
    # This role and the ones above it see whole caller numbers in case lists and exports; the others see
    # them masked (0944***888). An agent always sees the number of the call they are on.
    full_numbers_role: Literal["agent", "supervisor", "admin"] = "supervisor"
    # Shown at the foot of every page of the web app (empty: none). Callers hear theirs in the IVR's
    # greeting (ivr/prompts/catalog.yaml: welcome, welcome_mobile).
    notice: str = (
        "Dữ liệu cá nhân trong hệ thống được xử lý theo Nghị định 13/2023/NĐ-CP, chỉ để giải quyết phản ánh, "
        "kiến nghị của người dân; mọi lần xem, nghe, xuất dữ liệu đều được ghi nhật ký."
    )


class Sandbox(Strict):
    root: str = "/var/cache/hotline1022/sid-root"
    # Agents that get an auto-answering baresip phone in the sandbox; empty means every agent.
    phones: list[str] = []
    # A SIP account, not an agent, that a person can register a softphone with to dial the hotline.
    softphone: Name | Literal[""] = "citizen"
    phone_port_base: int = Field(5070, ge=1024, le=65000)
    control_port_base: int = Field(4440, ge=1024, le=65000)
    # With [[nodes]]: the sandbox's own network, where the edge, the nodes and the carrier get their
    # addresses and this machine (the center, where the hotline runs) the first one.
    network: str = "10.201.0.0/24"
    # The address of a host that plays the carrier (SIPp in the tests, placing calls to the edge); empty:
    # none.
    carrier: str = ""


class Node(Strict):
    """One Asterisk of several behind the SIP edge (docs/high-availability.md). Every node is rendered
    from the same settings; they differ only in where they listen."""

    name: Name
    address: str  # where the edge, the phones and the center reach this node (SIP, AMI)
    sip_port: int = Field(5060, ge=1, le=65535)
    ami_port: int = Field(5038, ge=1, le=65535)
    # Where the center reads this node's queue_log (a mount of the node's /var/log/asterisk); empty: the
    # sandbox's (<state_dir>/nodes/<name>/asterisk/log/queue_log).
    queue_log: str = ""

    @field_validator("address")
    @classmethod
    def _an_address(cls, value: str) -> str:
        ipaddress.ip_address(value)  # ValueError: pydantic names the setting
        return value

    @property
    def sip_address(self) -> str:
        return f"{self.address}:{self.sip_port}"


class Center(Strict):
    """This process among several centers on the site's one database (docs/high-availability.md): each
    serves everything, and each piece of background work runs on one of them at a time."""

    # Its name (logs, /metrics, its own case journal under <state_dir>/centers/<name>); empty: the only one.
    name: str = Field("", pattern=r"^[a-z0-9][a-z0-9-]{0,15}$|^$")


class Edge(Strict):
    """Kamailio in front of the nodes: the carrier's trunk points at it, and it sends each new call to the
    first node that answers its probes (the nodes in the order of [[nodes]]: the first one holds every
    queue's callers while it lives, so no two nodes hold callers of one queue)."""

    address: str = ""  # where the carrier sends calls; empty: no edge (one node, reached directly)
    port: int = Field(5060, ge=1, le=65535)
    # Kamailio's dispatcher sends OPTIONS to every node this often; a node that misses `probe_failures`
    # answers in a row is out until it answers again.
    probe_seconds: int = Field(2, ge=1, le=60)
    probe_failures: int = Field(2, ge=1, le=10)
    # A new call that a node does not answer at all (no 100 Trying) within this many seconds goes to the
    # next node: the first call after a node died waits this long, not the probes' time.
    answer_seconds: int = Field(2, ge=1, le=30)
    # The center takes a node for lost when its AMI has been away this long (a killed Asterisk is seen at
    # once, a cut link within two AMI pings): its calls end with what was seen of them, and the callers who
    # waited in its queues are called back at their place (docs/high-availability.md).
    node_lost_seconds: int = Field(5, ge=1, le=300)
    # Where Kamailio takes control commands (kamcmd's form: unix:/path or tcp:ADDRESS:PORT), for
    # 'hotline node drain' and the center's view of the nodes; empty: unix:<state_dir>/kamailio/ctl.sock.
    control: str = Field("", pattern=r"^$|^(unix:/\S+|tcp:[^\s:]+:[0-9]{1,5})$")
    # The addresses or networks new calls may come from (the carrier's); empty: [trunk] match, or its
    # host. Calls from anywhere else get 403.
    carriers: list[str] = []

    @field_validator("address")
    @classmethod
    def _an_address(cls, value: str) -> str:
        if value:
            ipaddress.ip_address(value)
        return value

    @field_validator("carriers")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            ipaddress.ip_network(value, strict=False)
        return values

    @property
    def sip_address(self) -> str:
        return f"{self.address}:{self.port}"


class Settings(Strict):
    site: Site = Site()
    numbers: list[Number]
    trunk: Trunk = Trunk()
    queues: list[Queue]
    agents: list[Agent]
    hours: Hours = Hours()
    calendar: Calendar = Calendar()
    agencies: list[Agency] = []
    # Default: a topic for each queue but the operator's (the topics the menu offers).
    topics: list[Topic] = []
    deadlines: list[Deadline] = Field(default_factory=_default_deadlines)
    requests: Requests = Requests()
    map: MapTiles = MapTiles()
    portal: Portal = Portal()
    mail: Mail = Mail()
    mailbox: Mailbox = Mailbox()
    sms: Sms = Sms()
    callbacks: Callbacks = Callbacks()
    worklist: Worklist = Worklist()
    switches: SwitchSettings = SwitchSettings()
    queued_callbacks: QueuedCallbacks = QueuedCallbacks()
    survey: Survey = Survey()
    zalo: Zalo = Zalo()
    facebook: Facebook = Facebook()
    ami: AMI = AMI()
    agi: AGI = AGI()
    sip: SIP = SIP()
    ivr: IVR = IVR()
    database: Database = Database()
    recordings: Recordings = Recordings()
    web: Web = Web()
    privacy: Privacy = Privacy()
    retention: Retention = Retention()
    sandbox: Sandbox = Sandbox()
    # Several Asterisk nodes behind the edge; none: one Asterisk at [sip] bind and [ami] (one machine).
    nodes: list[Node] = []
    edge: Edge = Edge()
    center: Center = Center()
    state_dir: str = "var"
    config_dir: str = "config/asterisk"

    # Where relative paths are anchored: the folder of the settings file.
    base_dir: Path = Path(".")
    # The node these settings were narrowed to (`for_node`): its Asterisk's own folders and addresses.
    node: str = ""

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        queue_names = [q.name for q in self.queues]
        _no_duplicates("queues[].name", queue_names)
        if "operator" not in queue_names:
            raise ValueError(
                "queues: a queue named 'operator' is required (callers who cannot use the menu go there)"
            )
        _no_duplicates("agents[].extension", [a.extension for a in self.agents])
        dids = [n.did for n in self.numbers] + [a for n in self.numbers for a in n.aliases]
        _no_duplicates("numbers[].did / aliases", dids)
        for i, agent in enumerate(self.agents):
            for q in agent.queues:
                if q not in queue_names:
                    raise ValueError(
                        f"agents[{i}].queues: unknown queue {q!r} for agent {agent.extension}; "
                        f"use one of {', '.join(queue_names)} or add a [[queues]] entry named {q!r}"
                    )
        extensions = {a.extension for a in self.agents}
        for ext in self.sandbox.phones:
            if ext not in extensions:
                raise ValueError(f"sandbox.phones: {ext!r} is not an agent extension in [[agents]]")
        if self.sip.rtp_start >= self.sip.rtp_end:
            raise ValueError("sip.rtp_start must be lower than sip.rtp_end")
        _no_duplicates("agencies[].name", [a.name for a in self.agencies])
        self._check_places()
        self._check_nodes()
        _no_duplicates("topics[].name", [t.name for t in self.topics])
        for priority in ("normal", "urgent"):
            if not any(d.topic == "" and d.priority == priority for d in self.deadlines):
                raise ValueError(
                    f'deadlines: a [[deadlines]] entry with topic = "" and priority = {priority!r} is needed '
                    "(the deadline of every topic without one of its own)"
                )
        return self

    def _check_places(self) -> None:
        if not self.site.province and not any(a.wards for a in self.agencies):
            return
        codes = places.known_codes()
        if self.site.province and self.site.province not in codes:
            raise ValueError(
                f"site.province: {self.site.province!r} is not a province's code on the 2025 list "
                "('hotline places provinces' lists them)"
            )
        wards = codes[self.site.province] if self.site.province else frozenset().union(*codes.values())
        for i, agency in enumerate(self.agencies):
            unknown = [w for w in agency.wards if w not in wards]
            if unknown:
                where = f"in the province {self.site.province}" if self.site.province else "on the 2025 list"
                raise ValueError(
                    f"agencies[{i}].wards: {', '.join(unknown)} of {agency.name} are not wards' codes "
                    f"{where} ('hotline places wards NAME' finds a ward's code)"
                )

    def _check_nodes(self) -> None:
        if not self.nodes:
            return
        _no_duplicates("nodes[].name", [n.name for n in self.nodes])
        _no_duplicates("nodes[].address:sip_port", [n.sip_address for n in self.nodes])
        if not self.edge.address:
            raise ValueError(
                "edge.address: several [[nodes]] need the SIP edge (Kamailio) the carrier sends calls to; "
                "give its address, or remove [[nodes]] to run one Asterisk"
            )
        if self.edge.address in {n.address for n in self.nodes}:
            raise ValueError("edge.address: the edge must not share an address with a node")

    def for_node(self, name: str) -> Settings:
        """These settings as one node's Asterisk sees them: its addresses, its own rendered config and
        state folders; the rest (queues, agents, secrets, the database) is the site's."""
        node = next((n for n in self.nodes if n.name == name), None)
        if node is None:
            raise KeyError(name)
        return self.model_copy(
            update={
                "node": name,
                "config_dir": str(self.config_path / "nodes" / name),
                "ami": self.ami.model_copy(
                    update={"host": node.address, "port": node.ami_port, "queue_log": node.queue_log}
                ),
                "sip": self.sip.model_copy(update={"bind": node.sip_address, "external_host": node.address}),
            }
        )

    @property
    def node_names(self) -> list[str]:
        """The nodes in their fail-over order; [""] on one machine (the one Asterisk)."""
        return [n.name for n in self.nodes] or [""]

    @property
    def node_state_path(self) -> Path:
        """What belongs to this node's Asterisk alone (its folders, its sandbox, the bridge's place in its
        queue_log); the site's state folder on one machine."""
        return self.state_path / "nodes" / self.node if self.node else self.state_path

    @property
    def asterisk_state_path(self) -> Path:
        """Asterisk's database, logs, spool and control socket (asterisk.conf [directories])."""
        return self.node_state_path / "asterisk"

    @property
    def sandbox_state_path(self) -> Path:
        return self.node_state_path / "sandbox"

    def deadline(self, topic: str, priority: str) -> Deadline:
        """The most specific deadline for a topic: its own, its first part's, or the default."""
        candidates = [
            d for d in self.deadlines if d.priority == priority and (d.topic == "" or _within(topic, d.topic))
        ]
        return max(candidates, key=lambda d: len(d.topic))

    @property
    def request_topics(self) -> list[Topic]:
        if self.topics:
            return self.topics
        return [Topic(name=q.name, label=q.label) for q in self.queues if q.name != "operator"]

    def topic_label(self, topic: str) -> str:
        """The label of a topic, or of its first part, or the topic itself (called for every line of a list
        or an export: read from the settings as they are, without building the topics)."""
        named = self.topics or self.queues
        labels = {t.name: t.label for t in named if self.topics or t.name != "operator"}
        return labels.get(topic) or labels.get(topic.split(".")[0]) or topic

    def suggested_agencies(self, topic: str, ward: str = "") -> list[str]:
        """The agencies that usually answer a topic (its own or its first part's) in a ward, by name: those
        bound to the ward first, then the province-wide departments of the topic."""
        local = [
            a.name
            for a in self.agencies
            if ward and ward in a.wards and (not a.topics or any(_within(topic, t) for t in a.topics))
        ]
        wide = [a.name for a in self.agencies if not a.wards and any(_within(topic, t) for t in a.topics)]
        return local + wide

    def places(self) -> places.Places:
        """The wards of the site's province, and the pre-2025 names that lead to them."""
        return places.for_province(self.site.province)

    def agency(self, name: str) -> Agency:
        for a in self.agencies:
            if a.name == name:
                return a
        raise KeyError(name)

    def agency_label(self, name: str) -> str:
        """How citizens know an agency ("" for none; the name of one no longer in the settings)."""
        return next((a.label for a in self.agencies if a.name == name), name)

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    @property
    def state_path(self) -> Path:
        return self.path(self.state_dir)

    @property
    def journal_path(self) -> Path:
        """The case writer's journal: each center's own (what it followed and has not seen written)."""
        if self.center.name:
            return self.state_path / "centers" / self.center.name / "journal"
        return self.state_path / "journal"

    @property
    def request_files_path(self) -> Path:
        """The photos and documents of citizens' requests, under names of ours."""
        return self.state_path / "request-files"

    @property
    def config_path(self) -> Path:
        return self.path(self.config_dir)

    @property
    def recordings_path(self) -> Path:
        return self.path(self.recordings.dir)

    @property
    def agi_peers(self) -> list[str]:
        """Who may open FastAGI sessions: [agi] allow, else the Asterisk host (where AMI is) and this
        machine."""
        if self.agi.allow:
            return list(self.agi.allow)
        peers = ["127.0.0.1/32", "::1/128"]
        with contextlib.suppress(ValueError):  # a host name: list its address in [agi] allow
            peers.append(str(ipaddress.ip_network(self.ami.host)))
        return peers + [f"{n.address}/{ipaddress.ip_address(n.address).max_prefixlen}" for n in self.nodes]

    @property
    def asterisk_log_path(self) -> Path:
        """Where Asterisk writes queue_log and its log files (rotated ones beside them)."""
        return self.queue_log_path.parent

    @property
    def queue_log_path(self) -> Path:
        return (
            self.path(self.ami.queue_log)
            if self.ami.queue_log
            else self.asterisk_state_path / "log/queue_log"
        )

    @property
    def asterisk_log_paths(self) -> list[Path]:
        """Every Asterisk's log folder: the one's, or each node's."""
        return [path.parent for path in self.queue_log_paths]

    @property
    def queue_log_paths(self) -> list[Path]:
        """Every Asterisk's queue_log: the one's, or each node's."""
        if self.nodes and not self.node:
            return [self.for_node(n.name).queue_log_path for n in self.nodes]
        return [self.queue_log_path]

    @property
    def sounds_path(self) -> Path:
        return self.path(self.ivr.sounds_dir)

    @property
    def database_url(self) -> str:
        """SQLite paths in the URL are relative to the settings file, like every other path."""
        url = self.database.url
        m = re.match(r"^(sqlite(?:\+\w+)?:///)(?!/)(.+)$", url)
        return f"{m[1]}{self.path(m[2])}" if m else url

    def queue(self, name: str) -> Queue:
        for q in self.queues:
            if q.name == name:
                return q
        raise KeyError(name)

    def phone_agents(self) -> list[Agent]:
        wanted = set(self.sandbox.phones)
        return [a for a in self.agents if not wanted or a.extension in wanted]


def _within(topic: str, prefix: str) -> bool:
    return topic == prefix or topic.startswith(prefix + ".")


def _no_duplicates(key: str, values: list[str]) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{key}: {v!r} appears twice; each must be unique")
        seen.add(v)


def settings_file(explicit: str | Path | None = None) -> Path:
    """The settings file: --settings, then $HOTLINE_SETTINGS, then ./hotline.toml, then the example."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get(ENV_SETTINGS):
        return Path(env)
    here = Path.cwd()
    if (here / DEFAULT_FILE).is_file():
        return here / DEFAULT_FILE
    if (here / EXAMPLE_FILE).is_file():
        return here / EXAMPLE_FILE
    raise SettingsError(
        f"no settings file: create {DEFAULT_FILE} (copy {EXAMPLE_FILE}), "
        f"or pass --settings FILE, or set ${ENV_SETTINGS}"
    )


def load(path: str | Path | None = None, overrides: dict[str, object] | None = None) -> Settings:
    file = settings_file(path).resolve()
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{file}: settings file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{file}: not valid TOML: {exc}; fix the syntax at that line") from None
    if "base_dir" in raw:
        raise SettingsError(f"{file}: base_dir is not a setting (paths are relative to the settings file)")
    if "node" in raw:
        raise SettingsError(f"{file}: node is not a setting (each node of [[nodes]] gets its own view)")
    raw["base_dir"] = file.parent
    if url := os.environ.get(ENV_DATABASE_URL):
        _set_dotted(raw, "database.url", url)  # deployments keep database credentials out of the file
    for key, value in (overrides or {}).items():
        _set_dotted(raw, key, value)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(_explain(file, exc)) from None


def _set_dotted(raw: dict[str, object], key: str, value: object) -> None:
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise SettingsError(f"override {key}: {part} is not a table")
        node = child
    node[leaf] = value


def _explain(file: Path, exc: ValidationError) -> str:
    lines = [f"{file}: {exc.error_count()} wrong setting(s):"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key; check its spelling against hotline.example.toml"
        elif err["type"] == "missing":
            msg = "missing; add it (see hotline.example.toml)"
        elif err["type"] == "string_pattern_mismatch":
            msg = f"{err['input']!r} has the wrong form ({err['ctx']['pattern']})"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)
