"""`hotline places provinces | wards NAME | find TEXT`: the 2025 list as whoever writes the settings needs
it (a province's code for [site] province, wards' codes for [[agencies]] wards) and a check of how a said
place or an old address is placed."""

from __future__ import annotations

import argparse
from typing import Any

from hotline import settings
from hotline.places import Places, for_province


def add_parser(sub: Any) -> None:
    places = sub.add_parser("places", help="the 2025 provinces and wards").add_subparsers(metavar="ACTION")
    places.add_parser("provinces", help="the 34 provinces and their codes").set_defaults(func=cmd_provinces)
    p = places.add_parser("wards", help="the site's wards a name means (2025 or older), with their codes")
    p.add_argument("name", nargs="?", default="", help="a name or its beginning; none: every ward")
    p.set_defaults(func=cmd_wards)
    p = places.add_parser("find", help="the ward a said place, an old address or a position is placed in")
    p.add_argument("text", nargs="?", default="")
    p.add_argument("--lat", type=float)
    p.add_argument("--lon", type=float)
    p.set_defaults(func=cmd_find)


def _site_places(args: argparse.Namespace) -> Places:
    return settings.load(args.settings).places()


def cmd_provinces(args: argparse.Namespace) -> int:
    for province in for_province("").provinces.values():
        print(f"{province.code}  {province.name}")
    return 0


def cmd_wards(args: argparse.Namespace) -> int:
    places = _site_places(args)
    if not args.name:
        for ward in sorted(places.wards.values(), key=lambda w: w.code):
            print(f"{ward.code}  {places.label(ward.code)}")
        return 0
    found = places.suggest(args.name, limit=30)
    for s in found:
        formerly = f"  (trước đây {s.old.name}, {s.old.district})" if s.old else ""
        print(f"{s.ward.code}  {places.label(s.ward.code)}{formerly}")
    return 0 if found else 1


def cmd_find(args: argparse.Namespace) -> int:
    places = _site_places(args)
    placed = places.place(said=args.text, latitude=args.lat, longitude=args.lon)
    if placed is None:
        print("no one ward: name it more exactly, or pick it ('hotline places wards NAME')")
        return 1
    formerly = f" from {placed.old.name}, {placed.old.district}" if placed.old else ""
    print(f"{placed.ward.code}  {places.label(placed.ward.code)}  ({placed.basis}{formerly})")
    return 0
