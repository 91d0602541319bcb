"""Finding a ward: by its code, by what someone typed (a 2025 name, a pre-2025 ward in its district, with
or without diacritics), in a message's text, or nearest to a position. One index per site, for its
province (or the whole country when the site names none), built once and read by every request."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from hotline.places.catalogue import Catalogue, OldWard, Province, Ward, read, ward_codes
from hotline.places.folding import fold, fold_address

# The kinds of units, folded, as they stand before a name in an address.
WARD_KINDS = ("phuong", "xa", "thi tran", "dac khu")
DISTRICT_KINDS = ("quan", "huyen", "thi xa", "thanh pho")
EARTH_KM = 6371.0
# A position farther than this from every ward, beyond the ward's own reach, is not in the province.
OUTSIDE_KM = 3.0
MOST_QUERY = 80  # characters of a typed name looked at
_LEADING_KINDS = re.compile(rf"^(?:(?:{'|'.join(WARD_KINDS)})(?: |$))+")


@dataclass(frozen=True, slots=True)
class Placement:
    """The ward a request is placed in, and how it was found."""

    ward: Ward
    # said: a 2025 name in the place the citizen gave; old_name: converted from a pre-2025 ward;
    # position: nearest to a shared position; words: named in the citizen's message; picked: chosen by code.
    basis: str
    old: OldWard | None = None


@dataclass(frozen=True, slots=True)
class Suggestion:
    ward: Ward
    old: OldWard | None = None  # when it was found by the name it had before 2025


@dataclass(slots=True)
class _Hits:
    new: dict[str, Ward] = field(default_factory=dict)
    old: list[OldWard] = field(default_factory=list)


def radius_km(ward: Ward) -> float:
    """The radius of a disc of the ward's area: how far from its centre it reaches, roughly."""
    return math.sqrt(max(ward.area_km2, 0.01) / math.pi)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


def _alternation(names: Iterable[str]) -> str:
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True) if n)


class Places:
    """The wards of one province (all of Vietnam for ""), with the pre-2025 wards that went into them."""

    def __init__(self, catalogue: Catalogue, province_code: str = "") -> None:
        self.province: Province | None = next(
            (p for p in catalogue.provinces if p.code == province_code), None
        )
        if province_code and self.province is None:
            raise KeyError(f"province {province_code!r} is not one of the 34 provinces' codes")
        self.provinces = {p.code: p for p in catalogue.provinces}
        self.wards = {
            w.code: w for w in catalogue.wards if not province_code or w.province_code == province_code
        }
        self.old_wards = tuple(o for o in catalogue.old_wards if o.new_codes[0] in self.wards)
        self._new_by_name: dict[str, list[Ward]] = {}
        for ward in self.wards.values():
            self._new_by_name.setdefault(fold(ward.short), []).append(ward)
        self._old_by_name: dict[str, list[OldWard]] = {}
        for old in self.old_wards:
            self._old_by_name.setdefault(fold(old.short), []).append(old)
        kinds = _alternation(WARD_KINDS)
        names = _alternation([*self._new_by_name, *self._old_by_name])
        self._named = re.compile(rf"(?<![a-z0-9])(?:({kinds}) )({names})(?![a-z0-9])")
        self._bare = re.compile(rf"(?<![a-z0-9])(?:({kinds}) )?({names})(?![a-z0-9])")
        districts = _alternation(fold(o.district_short) for o in self.old_wards)
        district_kinds = _alternation(DISTRICT_KINDS)
        self._district = re.compile(rf"(?<![a-z0-9])({district_kinds}) ({districts})(?![a-z0-9])")
        provinces = _alternation(fold(p.short) for p in catalogue.provinces)
        self._province = re.compile(rf"(?<![a-z0-9])(tinh|thanh pho) ({provinces})(?![a-z0-9])")
        # What a typed name is matched against: the 2025 names, and the old names that are not the same
        # name as the ward they went into.
        self._entries: list[tuple[str, Ward, OldWard | None]] = [
            (fold(w.short), w, None) for w in self.wards.values()
        ]
        for old in self.old_wards:
            ward = self.wards[old.new_codes[0]]
            if fold(old.short) != fold(ward.short):
                self._entries.append((fold(old.short), ward, old))

    def ward(self, code: str) -> Ward | None:
        return self.wards.get(code)

    def label(self, code: str) -> str:
        """'Phường Hạc Thành, Tỉnh Thanh Hóa'; "" for no ward or one not on the list."""
        ward = self.wards.get(code)
        if ward is None:
            return ""
        province = self.provinces.get(ward.province_code)
        return f"{ward.name}, {province.name}" if province and self.province is None else ward.name

    def suggest(self, query: str, limit: int = 10) -> list[Suggestion]:
        """The wards a name typed so far may mean: whole names first, then those it begins, then those a
        word of which it begins; 2025 names before pre-2025 ones."""
        folded = fold_address(query[:MOST_QUERY])
        q = _LEADING_KINDS.sub("", folded)
        kind = folded[: len(folded) - len(q)].strip()
        if not q:
            return []
        ranked = []
        for name, ward, old in self._entries:
            if name == q:
                rank = 0
            elif name.startswith(q):
                rank = 1
            elif f" {q}" in f" {name}":
                rank = 2
            else:
                continue
            unit = fold((old or ward).name.removesuffix((old or ward).short))
            other_kind = bool(kind) and unit.strip() != kind.split(" ")[-1] and unit.strip() != kind
            ranked.append((other_kind, rank, old is not None, name, ward.code, ward, old))
        ranked.sort(key=lambda r: r[:5])
        seen: set[tuple[str, str]] = set()
        out = []
        for *_, ward, old in ranked:
            key = (ward.code, old.code if old else "")
            if key not in seen:
                seen.add(key)
                out.append(Suggestion(ward, old))
            if len(out) == limit:
                break
        return out

    def find(self, named: str = "", context: str = "") -> Placement | None:
        """The one ward `named` (a place field: a bare name will do) or `context` (an address or a message:
        only names after their kind, "phường …", "xã …") mean, or None when none or several.
        A district named beside an old ward ("Phường Điện Biên, TP Thanh Hóa") says the address is the
        old map's and picks among old wards of one name."""
        named_text, context_text = fold_address(named[:1000]), fold_address(context[:20000])
        districts = {m.group(2) for text in (named_text, context_text) for m in self._district.finditer(text)}
        hits = _Hits()
        for pattern, text in ((self._bare, self._without_units(named_text)), (self._named, context_text)):
            for m in pattern.finditer(text):
                self._collect(hits, m.group(1), m.group(2), districts)
        basis = "said" if named_text else "words"
        old = hits.old
        if districts:
            in_district = [o for o in old if fold(o.district_short) in districts]
            if in_district:
                return self._from_old(in_district)
        if len(hits.new) == 1:
            return Placement(next(iter(hits.new.values())), basis)
        if not hits.new and old:
            return self._from_old(old)
        return None

    def _without_units(self, text: str) -> str:
        """A place field without its district and province ("…, TP Thanh Hóa, Thanh Hóa"): those names are
        not wards' names even when a ward shares them."""
        text = self._district.sub(" , ", text)
        return self._province.sub(" , ", text)

    def _collect(self, hits: _Hits, kind: str | None, name: str, districts: set[str]) -> None:
        for ward in self._new_by_name.get(name, ()):
            if kind is None or fold(ward.kind) == kind:
                hits.new[ward.code] = ward
        for old in self._old_by_name.get(name, ()):
            if old not in hits.old:
                hits.old.append(old)

    def _from_old(self, olds: list[OldWard]) -> Placement | None:
        targets = {o.new_codes[0] for o in olds}
        if len(targets) != 1:
            return None
        return Placement(self.wards[targets.pop()], "old_name", olds[0])

    def nearest(self, latitude: float, longitude: float) -> Ward | None:
        """The ward a position most likely lies in, from the wards' centres and areas (no boundaries are
        shipped): among the wards whose reach holds it, the one it is deepest in; else the nearest
        centre; None when it is far from every ward (another province, or a wrong position)."""
        if not (math.isfinite(latitude) and math.isfinite(longitude)):
            return None
        best: tuple[float, Ward] | None = None
        nearest: tuple[float, Ward] | None = None
        for ward in self.wards.values():
            d = distance_km(latitude, longitude, ward.latitude, ward.longitude)
            depth = d / radius_km(ward)
            if depth <= 1.0 and (best is None or depth < best[0]):
                best = (depth, ward)
            if nearest is None or d - radius_km(ward) < nearest[0]:
                nearest = (d - radius_km(ward), ward)
        if best is not None:
            return best[1]
        if nearest is not None and nearest[0] <= OUTSIDE_KM:
            return nearest[1]
        return None

    def place(
        self,
        said: str = "",
        address: str = "",
        latitude: float | None = None,
        longitude: float | None = None,
        words: str = "",
    ) -> Placement | None:
        """Where a request happened, from what the citizen gave, in the order it is most reliable: the place
        they named (with the address around it), a shared position, a place named in their words."""
        if said.strip() or address.strip():
            found = self.find(said, address)
            if found is not None:
                return found
        if latitude is not None and longitude is not None:
            ward = self.nearest(latitude, longitude)
            if ward is not None:
                return Placement(ward, "position")
        if words.strip():
            return self.find("", words)
        return None


@functools.cache
def _catalogue() -> Catalogue:
    return read()


@functools.cache
def known_codes() -> dict[str, frozenset[str]]:
    """Each province's code with its wards' codes, read once per process."""
    return ward_codes()


@functools.cache
def for_province(code: str = "") -> Places:
    """The index of a province's wards ("": every ward), built once per process: settings, the web app
    and the channels share it."""
    return Places(_catalogue(), code)
