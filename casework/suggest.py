"""Who should answer: when a request is opened, its topic and agency guessed from its words (and its ward),
learned from the center's own closed requests. Shown as a suggestion the operator confirms, never applied
alone. The words are segmented into Vietnamese words by pyvi (its model ships inside the package: nothing
is downloaded), each also without its diacritics so an SMS written without them counts the same; a TF-IDF
of words and word pairs, the ward as a word of its own, and a logistic regression per question (topic,
agency) from scikit-learn. Learned in a child process, at start and every night (web/suggestions.py)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db.models import AnswerOutcome, CitizenRequest, RequestStatus
from hotline.places import fold

log = logging.getLogger(__name__)
MOST_EXAMPLES = 50_000  # the newest closed requests learned from: a province's year or two
FEWEST_EXAMPLES = 30  # below this, nothing is suggested: a guess from a handful would mislead
MOST_WORDS = 4000  # characters of a text read
SHOWN = 3


@dataclass(frozen=True)
class Example:
    words: str
    ward: str
    topic: str
    agency: str


@dataclass(frozen=True)
class Guess:
    name: str
    score: float  # the model's probability, 0 to 1


@dataclass(frozen=True)
class Suggestions:
    topics: list[Guess]
    agencies: list[Guess]


@functools.cache
def _segmenter() -> Callable[[str], str]:
    # The one import not at the top: pyvi loads its model as it is imported (most of a second, in every
    # process that imports casework), and only the trainer and the suggestions need it.
    from pyvi import ViTokenizer

    tokenize: Callable[[str], str] = ViTokenizer.tokenize
    return tokenize


def features(words: str, ward: str = "") -> str:
    """The words as the model reads them: Vietnamese words ("lấn_chiếm", "vỉa_hè"), the same without
    diacritics, and the ward as a word of its own."""
    segmented = _segmenter()(words[:MOST_WORDS].lower()).split()
    kept = [w for w in segmented if any(ch.isalnum() for ch in w)]
    plain = [fold(w.replace("_", " ")).replace(" ", "_") for w in kept]
    return " ".join([*kept, *plain, *([f"phuong_{ward}"] if ward else [])])


class Suggester:
    """Two classifiers trained together on one set of examples."""

    def __init__(self, examples: Sequence[Example]) -> None:
        texts = [features(e.words, e.ward) for e in examples]
        self.vectorizer = TfidfVectorizer(
            token_pattern=r"\S+", ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=200_000
        )
        matrix = self.vectorizer.fit_transform(texts)
        self.models: dict[str, Any] = {}
        for question in ("topic", "agency"):
            labels = [getattr(e, question) for e in examples]
            if len(set(labels)) >= 2:
                model = LogisticRegression(max_iter=2000, C=8.0)
                model.fit(matrix, labels)
                self.models[question] = model
        self.examples = len(examples)
        self.trained_at = datetime.now().astimezone()

    def suggest(self, words: str, ward: str = "", most: int = SHOWN) -> Suggestions:
        if not words.strip():
            return Suggestions([], [])
        row = self.vectorizer.transform([features(words, ward)])
        guesses: dict[str, list[Guess]] = {"topic": [], "agency": []}
        for question, model in self.models.items():
            scores = model.predict_proba(row)[0]
            best = sorted(zip(model.classes_, scores, strict=True), key=lambda p: -p[1])[:most]
            guesses[question] = [Guess(str(name), round(float(score), 3)) for name, score in best]
        return Suggestions(guesses["topic"], guesses["agency"])


def trained(examples: Sequence[Example]) -> Suggester | None:
    """A suggester, or None when there is too little to learn from."""
    if len(examples) < FEWEST_EXAMPLES:
        return None
    return Suggester(examples)


async def examples(db: async_sessionmaker[AsyncSession], most: int = MOST_EXAMPLES) -> list[Example]:
    """The newest closed requests with the agency whose answer closed them: what the center decided, and
    what was right (a request returned as not theirs taught its agency nothing)."""
    r = CitizenRequest
    async with db() as session:
        rows = await session.execute(
            select(r.words, r.ward_code, r.topic, r.agency)
            .where(r.status == RequestStatus.CLOSED.value, r.agency != "", r.erased_at.is_(None))
            .where(r.outcome.in_(["", AnswerOutcome.FIXED.value, AnswerOutcome.NOT_FIXABLE.value]))
            .order_by(r.closed_at.desc())
            .limit(most)
        )
        return [Example(words, ward, topic, agency) for words, ward, topic, agency in rows]
