"""The list itself, read from the `vietnamadminunits` package's data files without importing the package
(its import loads every parser table and a geocoder client): the 2025 provinces and wards with their
codes, centres and areas, and each pre-2025 ward with the 2025 ward or wards it became."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "vietnamadminunits"


class CatalogueMissing(RuntimeError):
    """The package's data is not where this version of it keeps it."""


@dataclass(frozen=True, slots=True)
class Province:
    code: str  # the General Statistics Office's two digits: "38"
    name: str  # "Tỉnh Thanh Hóa"
    short: str  # "Thanh Hóa"
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Ward:
    """A ward, commune or special zone (đặc khu) of the 2025 map."""

    code: str  # five digits: "14797"
    name: str  # "Phường Hạc Thành"
    short: str  # "Hạc Thành"
    kind: str  # "Phường", "Xã", "Đặc khu"
    province_code: str
    latitude: float
    longitude: float
    area_km2: float


@dataclass(frozen=True, slots=True)
class OldWard:
    """A ward, commune or town (thị trấn) of the map before 1 July 2025, in its district."""

    code: str
    name: str  # "Phường Điện Biên"
    short: str
    district: str  # "Thành phố Thanh Hóa"
    district_short: str
    district_kind: str  # "Thành phố", "Huyện", "Quận", "Thị xã"
    province: str  # the old province: "Tỉnh Trà Vinh"
    # The 2025 wards it went to, the one that took most of it (the package's default) first.
    new_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Catalogue:
    provinces: tuple[Province, ...]
    wards: tuple[Ward, ...]
    old_wards: tuple[OldWard, ...]


def data_folder() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CatalogueMissing(f"the {PACKAGE} package is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    for name in ("dataset.db", "converter_2025.json"):
        if not (folder / name).is_file():
            raise CatalogueMissing(f"{folder / name} is missing: not the {PACKAGE} version this reads")
    return folder


def ward_codes(folder: Path | None = None) -> dict[str, frozenset[str]]:
    """Each province's code with its wards' codes: what the settings check, without building the index
    (a process that only loads its settings, such as the classic AGI script, pays a few milliseconds)."""
    db = sqlite3.connect(f"file:{(folder or data_folder()) / 'dataset.db'}?mode=ro&immutable=1", uri=True)
    try:
        codes: dict[str, set[str]] = {}
        for province, ward in db.execute("SELECT provinceCode, wardCode FROM admin_units"):
            codes.setdefault(province, set()).add(ward)
        return {province: frozenset(wards) for province, wards in codes.items()}
    finally:
        db.close()


def read(folder: Path | None = None) -> Catalogue:
    folder = folder or data_folder()
    db = sqlite3.connect(f"file:{folder / 'dataset.db'}?mode=ro&immutable=1", uri=True)
    try:
        return _read(db, json.loads((folder / "converter_2025.json").read_text(encoding="utf-8")))
    finally:
        db.close()


def _read(db: sqlite3.Connection, converter: dict[str, dict[str, dict[str, object]]]) -> Catalogue:
    provinces: dict[str, Province] = {}
    province_of_key: dict[str, str] = {}
    ward_of_key: dict[tuple[str, str], str] = {}
    wards = []
    for row in db.execute(
        "SELECT province, provinceShort, provinceCode, provinceLat, provinceLon, provinceKey, ward, "
        "wardShort, wardType, wardCode, wardLat, wardLon, wardAreaKm2, wardKey FROM admin_units "
        "ORDER BY provinceCode, wardCode"
    ):
        (p_name, p_short, p_code, p_lat, p_lon, p_key, name, short, kind, code, lat, lon, area, key) = row
        if p_code not in provinces:
            provinces[p_code] = Province(p_code, p_name, p_short, p_lat, p_lon)
            province_of_key[p_key] = p_code
        wards.append(Ward(code, name, short, kind, p_code, lat, lon, area or 0.0))
        ward_of_key[(p_key, key)] = code
    new_of_old: dict[str, list[str]] = {}
    for p_key, by_ward in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for ward_key, old_keys in by_ward.items():
            code = ward_of_key.get((p_key, ward_key))
            if code is not None and isinstance(old_keys, list):
                for old_key in old_keys:
                    new_of_old.setdefault(old_key, []).append(code)
    for p_key, by_old in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old_key, parts in by_old.items():
            if not isinstance(parts, list):
                continue
            ranked = sorted(parts, key=lambda part: not part.get("isDefaultNewWard"))
            codes = [ward_of_key.get((p_key, part.get("newWardKey", ""))) for part in ranked]
            new_of_old.setdefault(old_key, []).extend(c for c in codes if c is not None)
    old_wards = []
    for row in db.execute(
        "SELECT province, provinceKey, district, districtShort, districtType, districtKey, ward, wardShort, "
        "wardType, wardCode, wardKey FROM admin_units_legacy WHERE ward IS NOT NULL AND ward <> '' "
        "ORDER BY wardCode"
    ):
        (p_name, p_key, district, d_short, d_kind, d_key, name, short, kind, code, key) = row
        new_codes = tuple(dict.fromkeys(new_of_old.get(f"{p_key}_{d_key}_{key}", ())))
        if new_codes:
            old_wards.append(OldWard(code, name, short, district, d_short, d_kind, p_name, new_codes))
    return Catalogue(tuple(provinces.values()), tuple(wards), tuple(old_wards))
