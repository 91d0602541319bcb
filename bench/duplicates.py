"""How well the possible duplicates are suggested: `.venv/bin/python -m bench.duplicates [--problems 400]`.

Generates a month of reports in Thanh Hóa with known truth: problems (a broken street light, a flooded
street, rubbish dumped, a pavement taken over, noise at night, a pothole, a fallen tree, no tap water),
each at a place of its own (a street and a house number or a landmark, in a ward) and reported 1 to 6
times by different citizens, in their own words (synonyms, word order, with or without diacritics as SMS
are often written, sometimes a shared position near the place, sometimes only the ward). Hard cases are
built in: the same kind of problem in the same ward on another street, and the same words in another
ward. Each report is opened in turn on a real SQLite database, as the center would, and the suggestions
the center sees (casework/duplicates.py, at most five) are compared with the truth:

- precision: the share of suggestions shown that are the same problem;
- recall: the share of reports repeating an open request that are shown at least one request of the same
  problem.

Printed for the settings shipped ([requests] duplicate_words, duplicate_meters, duplicate_days) and for
other word thresholds, against the baseline every report of the topic in the same ward (no words), in the
same run."""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from casework import duplicates
from casework import workflow as wf
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import CitizenRequest, Role
from hotline.places import for_province

ROOT = Path(__file__).resolve().parent.parent
THANH_HOA = "38"
STREETS = [
    "Lê Lai",
    "Trường Thi",
    "Phan Chu Trinh",
    "Lê Hoàn",
    "Hàm Nghi",
    "Bà Triệu",
    "Quang Trung",
    "Lý Thường Kiệt",
    "Nguyễn Trãi",
    "Trần Phú",
    "Đội Cung",
    "Tống Duy Tân",
    "Hải Thượng Lãn Ông",
    "Lê Quý Đôn",
    "Phú Thọ",
]
LANDMARKS = [
    "chợ Vườn Hoa",
    "trường tiểu học",
    "cổng bệnh viện",
    "nhà văn hóa khu phố",
    "trạm y tế",
    "ngã tư",
]
# Each kind of problem: its topic and the ways people say it.
KINDS = {
    "light": (
        "violation",
        ["đèn đường hỏng", "đèn chiếu sáng không sáng", "cột đèn bị tắt", "bóng đèn đường cháy"],
    ),
    "flood": ("violation", ["ngập nước", "đường bị ngập sâu", "nước tràn vào nhà", "cống tắc gây ngập"]),
    "rubbish": ("violation", ["đổ rác trộm", "rác thải đổ bừa bãi", "bãi rác tự phát", "xả rác bốc mùi"]),
    "pavement": ("violation", ["lấn chiếm vỉa hè", "bán hàng chiếm vỉa hè", "để xe kín vỉa hè"]),
    "noise": ("violation", ["hát karaoke ồn ào", "tiếng ồn ban đêm", "loa kẹo kéo mở to đến khuya"]),
    "pothole": ("suggestion", ["ổ gà trên đường", "mặt đường bị lún sụt", "đường hỏng nhiều ổ voi"]),
    "tree": ("suggestion", ["cây đổ chắn đường", "cành cây gãy đè dây điện", "cây xanh nghiêng sắp đổ"]),
    "water": ("welfare", ["mất nước sinh hoạt", "không có nước máy", "nước máy đục, có mùi"]),
}
OPENINGS = ["", "Kính gửi tổng đài, ", "Tôi muốn phản ánh: ", "Xin báo: ", "Đề nghị kiểm tra giúp: "]
CLOSINGS = ["", " mấy hôm nay.", " đã 3 ngày rồi.", ", đề nghị xử lý sớm.", " Rất mong được giải quyết."]


def plain(text: str) -> str:
    """As many SMS are written: without the marks."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


@dataclass
class Problem:
    id: int
    kind: str
    ward: str
    where: str  # "trước số 12 phố Lê Lai", "gần chợ Vườn Hoa"
    latitude: float
    longitude: float
    reports: int


def problems(count: int, rng: random.Random) -> list[Problem]:
    places = for_province(THANH_HOA)
    # A few busy wards, as in a city: the hard cases live there.
    wards = sorted(places.wards.values(), key=lambda w: w.code)
    busy = [w for w in wards if w.kind == "Phường"][:6]
    out = []
    for i in range(count):
        ward = rng.choice(busy) if rng.random() < 0.7 else rng.choice(wards)
        if rng.random() < 0.6:
            where = f"số {rng.randint(1, 200)} phố {rng.choice(STREETS)}"
        else:
            where = f"{rng.choice(LANDMARKS)} đường {rng.choice(STREETS)}"
        lat = ward.latitude + rng.uniform(-0.01, 0.01)
        lon = ward.longitude + rng.uniform(-0.01, 0.01)
        reports = rng.choice([1, 1, 1, 2, 2, 3, 4, 6])
        out.append(Problem(i, rng.choice(list(KINDS)), ward.code, where, lat, lon, reports))
    return out


def words(p: Problem, rng: random.Random) -> str:
    said = rng.choice(KINDS[p.kind][1])
    where = p.where if rng.random() < 0.85 else p.where.split(" phố ")[-1].split(" đường ")[-1]
    text = rng.choice([f"{said} ở {where}", f"Tại {where} {said}", f"{where}: {said}"])
    text = rng.choice(OPENINGS) + text + rng.choice(CLOSINGS)
    return plain(text) if rng.random() < 0.3 else text


@dataclass
class Scored:
    shown: int = 0
    right: int = 0
    repeats: int = 0
    found: int = 0
    first_right: int = 0  # reports whose first suggestion is the same problem
    with_any: int = 0  # reports shown at least one suggestion

    @property
    def precision(self) -> float:
        return self.right / self.shown if self.shown else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.repeats if self.repeats else 1.0


async def run(count: int, seed: int) -> str:
    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="bench-dup-"))
    url = f"sqlite+aiosqlite:///{folder}/dup.db"
    await upgrade_async(url)
    base = site_settings.load(ROOT / "tests" / "hotline.test.toml", overrides={"database.url": url})
    engine = make_engine(url)
    db = sessions(engine)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    reports = []
    for p in problems(count, rng):
        first = start + timedelta(hours=rng.uniform(0, 24 * 28))
        for _ in range(p.reports):
            reports.append((first + timedelta(hours=rng.expovariate(1 / 20)), p))
    reports.sort(key=lambda r: r[0])
    places = base.places()
    agent = wf.Actor("bench", Role.AGENT)
    truth: dict[str, int] = {}
    opened: list[tuple[CitizenRequest, Problem]] = []
    async with db() as session, session.begin():
        for i, (at, p) in enumerate(reports):
            topic = KINDS[p.kind][0]
            with_position = rng.random() < 0.4
            r = wf.open_request(
                f"{10_000_000 + i}",
                agent,
                at,
                topic=topic,
                words=words(p, rng),
                places=places,
                ward=p.ward if not with_position else "",
                latitude=p.latitude + rng.uniform(-0.0008, 0.0008) if with_position else None,
                longitude=p.longitude + rng.uniform(-0.0008, 0.0008) if with_position else None,
            )
            session.add(r)
            truth[r.number] = p.id
            opened.append((r, p))
    thresholds = sorted({base.requests.duplicate_words, 0.2, 0.3, 0.45, 0.6})
    lines = [
        f"{len(reports)} reports of {count} problems ({sum(1 for _, p in opened if p.reports > 1)} reports "
        f"of problems reported more than once), seed {seed}; suggestions: at most 5 per report",
        "",
        "| suggesting | precision | recall | first suggestion right | suggestions per report | time per report |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for words_at in [None, *thresholds]:
        rules = base.requests.model_copy(
            update={"duplicate_words": words_at if words_at is not None else 0.0}
        )
        settings = base.model_copy(update={"requests": rules})
        scored = Scored()
        took = 0.0
        async with db() as session:
            for r, p in opened:
                earlier = [o for o, q in opened if q.id == p.id and o.created_at < r.created_at]
                started = time.perf_counter()
                found = await duplicates.candidates(session, settings, r, most=10_000)
                took += time.perf_counter() - started
                found = [c for c in found if c.request.created_at < r.created_at]  # the center saw only these
                if words_at is None:  # the baseline knows no words: the newest first
                    found.sort(key=lambda c: c.request.created_at, reverse=True)
                found = found[: duplicates.MOST_SHOWN]
                scored.shown += len(found)
                scored.right += sum(1 for c in found if truth[c.request.number] == p.id)
                if found:
                    scored.with_any += 1
                    scored.first_right += truth[found[0].request.number] == p.id
                if earlier:
                    scored.repeats += 1
                    scored.found += any(truth[c.request.number] == p.id for c in found)
        name = (
            "baseline: same topic and ward or 300 m, no words"
            if words_at is None
            else f"words ≥ {words_at:g}" + (" (shipped)" if words_at == base.requests.duplicate_words else "")
        )
        lines.append(
            f"| {name} | {scored.precision:.0%} | {scored.recall:.0%} | "
            f"{scored.first_right / scored.with_any if scored.with_any else 1:.0%} | "
            f"{scored.shown / len(opened):.2f} | {1000 * took / len(opened):.1f} ms |"
        )
    await engine.dispose()
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1022)
    args = parser.parse_args()
    print(asyncio.run(run(args.problems, args.seed)))


if __name__ == "__main__":
    main()
