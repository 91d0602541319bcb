"""One problem, one request: when a flood or a broken street light brings twenty calls, the staff are shown
the open requests a new one may repeat, and merge it into one of them (workflow.merge). A candidate is of
the same topic (its first part), opened within [requests] duplicate_days of it, in the same ward or within
duplicate_meters of its position, with words at least duplicate_words alike. The database narrows by
topic, time and place; the words are compared here, on at most a few hundred rows."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from casework import workflow as wf
from hotline.db.models import CitizenRequest
from hotline.places import fold
from hotline.places.index import distance_km
from hotline.settings import Settings

MOST_LOOKED_AT = 300  # rows the database hands over: the newest, of the topic, near in time and place
MOST_SHOWN = 5
MOST_WORDS = 4000  # characters of a text compared
# Words that say nothing of which problem it is: how people ask, not what they ask about.
# Folded, so "đèn" (a lamp) and "đến" (to) are one word: only words that are never what a report is about
# are left out ("cho", "cầu", "bán", "lại" stay: a market, a bridge, selling, a street's name).
_UNSAID = (
    "a ah ai anh bi cac cai can chi chu co con cua da dang day de di duoc gi giup ha hay hien hom khi khong "
    "la lam len luc ma minh mot nay neu ngay nguoi nhan nhe nho nhu nhung noi o oi phan qua ra rang rat roi "
    "sao se sau tai thay the thi tinh toi trong tu va vao van ve vi voi xin yeu kien"
)
STOPWORDS = frozenset(_UNSAID.split())
METRES_PER_DEGREE = 111_320.0
MOST_FOR_RARITY = 5  # texts nearby below which every term counts alike


@dataclass(frozen=True)
class Candidate:
    request: CitizenRequest
    words: float  # how alike the words are, 0 to 1
    metres: float | None  # how far apart, when both have a position
    same_ward: bool


def terms(text: str) -> frozenset[str]:
    """A text's meaningful syllables and the pairs they make ("den duong" is a street light, "den" alone
    is not)."""
    syllables = [
        w for w in fold(text[:MOST_WORDS]).split() if w not in STOPWORDS and (len(w) > 1 or w.isdigit())
    ]
    return frozenset(syllables) | frozenset(f"{a} {b}" for a, b in itertools.pairwise(syllables))


def alike(a: frozenset[str], b: frozenset[str], weight: Callable[[str], float] = lambda t: 1.0) -> float:
    """The share of the smaller text's terms the other holds, each term counted by its weight: a short
    "đèn đường hỏng ở ngõ 5 Lê Lai" is all in a long account of the same light."""
    if not a or not b:
        return 0.0
    shared = sum(weight(t) for t in a & b)
    return shared / min(sum(weight(t) for t in a), sum(weight(t) for t in b))


def rarity(texts: list[frozenset[str]]) -> Callable[[str], float]:
    """How much a term tells among these texts: what every report nearby says ("đèn đường hỏng", when the
    ward's lights fail) tells less than a street's name or a house number (inverse document frequency)."""
    counts = Counter(t for terms_of in texts for t in terms_of)
    n = len(texts)
    return lambda t: math.log(1 + n / (1 + counts[t])) if n >= MOST_FOR_RARITY else 1.0


def _topic_family(topic: str) -> str:
    return topic.split(".", 1)[0]


def _metres(a: CitizenRequest, b: CitizenRequest) -> float | None:
    if None in (a.latitude, a.longitude, b.latitude, b.longitude):
        return None
    return 1000 * distance_km(a.latitude, a.longitude, b.latitude, b.longitude)  # type: ignore[arg-type]


async def candidates(
    session: AsyncSession, settings: Settings, request: CitizenRequest, most: int = MOST_SHOWN
) -> list[Candidate]:
    """The open requests this one may repeat, the most alike first."""
    rules = settings.requests
    window = timedelta(days=rules.duplicate_days)
    family = _topic_family(request.topic)
    near: list[ColumnElement[bool]] = []
    if request.ward_code:
        near.append(CitizenRequest.ward_code == request.ward_code)
    if request.latitude is not None and request.longitude is not None and rules.duplicate_meters:
        span = rules.duplicate_meters / METRES_PER_DEGREE
        near.append(
            and_(
                CitizenRequest.latitude.between(request.latitude - span, request.latitude + span),
                CitizenRequest.longitude.between(request.longitude - 2 * span, request.longitude + 2 * span),
            )
        )
    if not near:
        return []
    rows = await session.scalars(
        select(CitizenRequest)
        .where(
            CitizenRequest.status.in_([s.value for s in wf.OPEN]),
            CitizenRequest.id != request.id,
            or_(CitizenRequest.topic == family, CitizenRequest.topic.startswith(f"{family}.")),
            CitizenRequest.created_at.between(request.created_at - window, request.created_at + window),
            or_(*near),
        )
        .order_by(CitizenRequest.created_at.desc())
        .limit(MOST_LOOKED_AT)
    )
    mine = terms(request.words)
    nearby = []
    for other in rows:
        metres = _metres(request, other)
        same_ward = bool(request.ward_code) and other.ward_code == request.ward_code
        if same_ward or (metres is not None and metres <= rules.duplicate_meters):
            nearby.append((other, metres, same_ward, terms(other.words)))
    weight = rarity([mine, *(t for *_, t in nearby)])
    found = []
    for other, metres, same_ward, theirs in nearby:
        score = alike(mine, theirs, weight)
        if score >= rules.duplicate_words:
            found.append(Candidate(other, score, metres, same_ward))
    found.sort(key=lambda c: (-c.words, c.metres if c.metres is not None else 1e9, c.request.id))
    return found[:most]
