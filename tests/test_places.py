"""The 2025 map as the hotline reads it: the 34 provinces and their wards from the shipped list, pre-2025
names and addresses converted (districts that no longer exist, merged and divided wards, a province merged
into another), typed names with or without diacritics, places named in a message, a position to its ward,
the agencies of a ward suggested first, and hostile text that costs nothing."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from hotline import settings as site_settings
from hotline.errors import SettingsError
from hotline.places import for_province
from shell import cli
from tests.conftest import TEST_SETTINGS

THANH_HOA, VINH_LONG = "38", "86"
HAC_THANH, QUANG_PHU, HOANG_HOA = "14797", "16522", "15865"


def test_the_list_has_the_34_provinces_and_their_wards() -> None:
    country = for_province("")
    assert len(country.provinces) == 34
    assert len(for_province(THANH_HOA).wards) == 166
    assert len(for_province(VINH_LONG).wards) == 124
    assert len(country.wards) > 3300
    assert for_province(THANH_HOA).province is not None
    assert for_province(THANH_HOA).province.name == "Tỉnh Thanh Hóa"  # type: ignore[union-attr]
    with pytest.raises(KeyError):
        for_province("99")


@pytest.mark.parametrize(
    ("said", "ward", "basis", "old"),
    [
        # A ward of the old city, merged into Hạc Thành.
        ("Phường Điện Biên, TP Thanh Hóa", HAC_THANH, "old_name", "Phường Điện Biên"),
        ("p. dien bien, thanh pho thanh hoa, tinh thanh hoa", HAC_THANH, "old_name", "Phường Điện Biên"),
        # Merged wards, said without diacritics or kind.
        ("quang tam", QUANG_PHU, "old_name", "Phường Quảng Tâm"),
        # A town of a district that no longer exists.
        ("Thị trấn Bút Sơn, huyện Hoằng Hóa", HOANG_HOA, "old_name", "Thị trấn Bút Sơn"),
        # The 2025 names themselves.
        ("Phường Hạc Thành", HAC_THANH, "said", None),
        ("hac thanh", HAC_THANH, "said", None),
        ("Xã Hoằng Hóa", HOANG_HOA, "said", None),
    ],
)
def test_a_said_place_or_an_old_address_becomes_its_2025_ward(
    said: str, ward: str, basis: str, old: str | None
) -> None:
    placed = for_province(THANH_HOA).find(said)
    assert placed is not None
    assert (placed.ward.code, placed.basis) == (ward, basis)
    assert (placed.old.name if placed.old else None) == old


def test_a_divided_old_ward_goes_to_the_ward_that_took_most_of_it() -> None:
    places = for_province(THANH_HOA)
    divided = [o for o in places.old_wards if len(o.new_codes) > 1]
    assert divided, "the list divides some old wards"
    old = divided[0]
    placed = places.find(f"{old.name}, {old.district}")
    assert placed is not None and placed.ward.code == old.new_codes[0]


def test_a_province_merged_into_another_is_found_in_it() -> None:
    """Trà Vinh is part of Vĩnh Long since 1 July 2025: its old wards lead to Vĩnh Long's."""
    places = for_province(VINH_LONG)
    tra_vinh = [o for o in places.old_wards if o.province == "Tỉnh Trà Vinh"]
    assert len(tra_vinh) > 50
    old = tra_vinh[0]
    placed = places.find(f"{old.name}, {old.district}, Tỉnh Trà Vinh")
    assert placed is not None and placed.ward.province_code == VINH_LONG


def test_what_names_no_one_ward_places_nothing() -> None:
    places = for_province(THANH_HOA)
    # A district that no longer exists, with no ward: several communes were made of it.
    assert places.find("Huyện Quảng Xương") is None
    assert places.find("") is None
    assert places.find("Phường Bến Nghé, Quận 1") is None  # Hồ Chí Minh City's, not this province's


def test_a_place_named_in_a_message_is_found_only_after_its_kind() -> None:
    places = for_province(THANH_HOA)
    sms = "Den duong o ngo 5 pho Le Lai, phuong Hac Thanh hong 3 hom nay, de nghi sua"
    placed = places.place(words=sms)
    assert placed is not None and (placed.ward.code, placed.basis) == (HAC_THANH, "words")
    mail = "Cống thoát nước ở P. Điện Biên, TP. Thanh Hóa bị tắc."
    placed = places.place(words=mail)
    assert placed is not None and (placed.ward.code, placed.basis) == (HAC_THANH, "old_name")
    # Words that happen to be a ward's name are not a place.
    assert places.place(words="Tôi muốn hỏi về hoằng hóa và quảng phú thế nào") is None


def test_typing_suggests_wards_by_new_and_old_names() -> None:
    places = for_province(THANH_HOA)
    assert [s.ward.code for s in places.suggest("P. Hạc")] == [HAC_THANH]
    by_old = places.suggest("dien bien")
    assert by_old[0].ward.code == HAC_THANH and by_old[0].old is not None
    assert by_old[0].old.name == "Phường Điện Biên"
    assert len(places.suggest("x", limit=10)) <= 10
    assert places.suggest("phường") == []


def test_a_position_is_placed_in_its_ward() -> None:
    places = for_province(THANH_HOA)
    ward = places.wards[HAC_THANH]
    assert places.nearest(ward.latitude, ward.longitude) == ward
    # A little off the centre, still within the ward's reach.
    placed = places.place(latitude=ward.latitude + 0.005, longitude=ward.longitude - 0.005)
    assert placed is not None and (placed.ward, placed.basis) == (ward, "position")
    assert places.nearest(21.0285, 105.8542) is None  # Hà Nội: not in Thanh Hóa
    assert places.nearest(float("nan"), 105.8) is None


def test_the_place_named_comes_before_the_position() -> None:
    places = for_province(THANH_HOA)
    far = places.wards[HOANG_HOA]
    placed = places.place(said="Hạc Thành", latitude=far.latitude, longitude=far.longitude)
    assert placed is not None and placed.ward.code == HAC_THANH


@pytest.mark.parametrize(
    "text",
    [
        "phường " * 200_000,
        "\x00\x1b[2J\u202ephường Hạc Thành",
        "\ud800\udfff phường Hạc Thành",
        "Hạc Thành" * 10_000,
        "x" * 1_000_000,
    ],
)
def test_hostile_text_costs_little_and_breaks_nothing(text: str) -> None:
    places = for_province(THANH_HOA)
    started = time.perf_counter()
    places.place(said=text, address=text, words=text)
    places.suggest(text)
    assert time.perf_counter() - started < 2.0


def test_placing_never_reaches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The package's own converter may geocode a street over the network; ours reads its data only."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a place was looked up over the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    places = for_province(THANH_HOA)
    divided = next(o for o in places.old_wards if len(o.new_codes) > 1)
    assert places.find(f"Số 12 đường Lê Lai, {divided.name}, {divided.district}, Thanh Hóa") is not None


def _settings(**site: Any) -> site_settings.Settings:
    return site_settings.load(TEST_SETTINGS, overrides=site)


def test_agencies_of_a_ward_are_suggested_before_the_province_wide_ones() -> None:
    agencies = [
        {"name": "so_xay_dung", "label": "Sở Xây dựng", "topics": ["violation"]},
        {"name": "ubnd_hac_thanh", "label": "UBND phường Hạc Thành", "wards": [HAC_THANH]},
        {"name": "ubnd_quang_phu", "label": "UBND phường Quảng Phú", "wards": [QUANG_PHU]},
        {"name": "so_y_te", "label": "Sở Y tế", "topics": ["health"]},
        {
            "name": "cong_an_hac_thanh",
            "label": "Công an phường",
            "wards": [HAC_THANH],
            "topics": ["security"],
        },
    ]
    site = _settings(agencies=agencies)
    assert site.suggested_agencies("violation", HAC_THANH) == ["ubnd_hac_thanh", "so_xay_dung"]
    assert site.suggested_agencies("violation.noise", QUANG_PHU) == ["ubnd_quang_phu", "so_xay_dung"]
    assert site.suggested_agencies("health", "") == ["so_y_te"]
    assert site.suggested_agencies("security", HAC_THANH) == ["ubnd_hac_thanh", "cong_an_hac_thanh"]


def test_settings_refuse_unknown_provinces_and_wards() -> None:
    with pytest.raises(SettingsError, match=r"site\.province"):
        _settings(**{"site.province": "99"})
    with pytest.raises(SettingsError, match="agencies"):
        _settings(agencies=[{"name": "x", "label": "X", "wards": ["00001"]}])
    # A ward of another province is not one of this site's.
    with pytest.raises(SettingsError, match="in the province 38"):
        _settings(agencies=[{"name": "x", "label": "X", "wards": ["26734"]}])


def test_the_places_command_finds_codes_for_whoever_writes_the_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = str(TEST_SETTINGS)
    assert cli.main(["--settings", settings, "places", "provinces"]) == 0
    provinces = capsys.readouterr().out.splitlines()
    assert len(provinces) == 34 and "38  Tỉnh Thanh Hóa" in provinces
    assert cli.main(["--settings", settings, "places", "wards", "dien bien"]) == 0
    assert capsys.readouterr().out.startswith(f"{HAC_THANH}  Phường Hạc Thành  (trước đây Phường Điện Biên")
    assert cli.main(["--settings", settings, "places", "find", "Thị trấn Bút Sơn, huyện Hoằng Hóa"]) == 0
    assert capsys.readouterr().out.startswith(f"{HOANG_HOA}  Xã Hoằng Hóa  (old_name from Thị trấn Bút Sơn")
    assert cli.main(["--settings", settings, "places", "find", "Huyện Quảng Xương"]) == 1
