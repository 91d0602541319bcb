"""Other people's Open311 GeoReport v2 clients against the running app, in XML and in JSON: georeport
(requests and xmltodict) reads the services, a service's definition and the requests; three (requests and
relaxml, written for Python 2 and run here through the standard library's 2to3, otherwise unchanged)
discovers the endpoint, posts a request and reads it back. What either parses from XML is what the JSON
says."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
import xmltodict
from georeport import GeoReport

from tests.web_site import Site, site

__all__ = ["site"]  # the fixture

WORDS = "Lấn chiếm vỉa hè trước số 12 Lê Lợi"


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The three client, converted by 2to3 into a folder of the test's and imported from there."""
    import importlib.util

    spec = importlib.util.find_spec("three")
    assert spec is not None and spec.submodule_search_locations, "three is installed with the dev packages"
    source = Path(next(iter(spec.submodule_search_locations)))
    folder = tmp_path_factory.mktemp("three")
    convert = ("-w", "-n", "-W", "--no-diffs", "-o", str(folder / "three"), str(source))
    subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "lib2to3", *convert],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.path.insert(0, str(folder))
    try:
        import three as converted

        assert Path(converted.__file__).is_relative_to(folder)
        yield converted
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == "three" or m.startswith("three.")]:
            del sys.modules[name]


def _endpoint(s: Site) -> str:
    return str(s.client.make_url("/open311/v2/"))


def _listed(value: Any) -> list[Any]:
    """One element parsed from XML is a dict, several a list: either as a list."""
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_georeport_reads_services_definitions_and_requests(site: Site, fmt: str) -> None:
    made = await site.client.post(
        "/open311/v2/requests.json",
        data={"service_code": "health", "address_string": "Phường Bến Nghé", "description": WORDS},
        params={"api_key": site.tokens["agent"]},  # in the query string, as some clients send it
    )
    assert made.status == 201, await made.text()
    number = (await made.json())[0]["service_request_id"]
    client = GeoReport(_endpoint(site), output_format=fmt)

    services = await asyncio.to_thread(client.get_service_list)
    assert {s["service_code"] for s in services} == {"violation", "suggestion", "welfare", "health"}
    assert {s["type"] for s in services} == {"realtime"}
    assert {str(s["metadata"]).lower() for s in services} == {"false"}
    definition = await asyncio.to_thread(client.get_service_definition, "health")
    assert definition["service_code"] == "health"

    found = _listed(await asyncio.to_thread(client.get_service_requests, status="open"))
    assert number in [r["service_request_id"] for r in found]
    one = await asyncio.to_thread(client.get_service_request, number)
    assert (one["service_request_id"], one["status"], one["service_code"]) == (number, "open", "health")
    assert one["address"] is None and one["lat"] is None  # never the place or the person, in either format

    with pytest.raises(requests.HTTPError) as refused:
        await asyncio.to_thread(client.get_service_request, "99999999")
    reply = refused.value.response
    assert reply is not None and reply.status_code == 404
    if fmt == "xml":
        assert reply.headers["Content-Type"] == "text/xml; charset=utf-8"
        error = xmltodict.parse(reply.content)["errors"]["error"]
    else:
        (error,) = reply.json()
    assert error["code"] in ("404", 404) and "99999999" in error["description"]


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_three_discovers_posts_and_reads_back(site: Site, three: ModuleType, fmt: str) -> None:
    client = three.Three(_endpoint(site), format=fmt, api_key=site.tokens["agent"])

    discovery = await asyncio.to_thread(client.discovery)  # its XML reader leaves out the root element
    endpoint = discovery["endpoints"]["endpoint"] if fmt == "xml" else discovery["endpoints"][0]
    formats = endpoint["formats"]["format"] if fmt == "xml" else endpoint["formats"]
    assert set(formats) == {"text/xml", "application/json"}
    assert (
        endpoint["url"] == _endpoint(site)
        and endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    )

    services = await asyncio.to_thread(client.services)
    listed = services["service"] if fmt == "xml" else services
    assert {s["service_code"] for s in listed} == {"violation", "suggestion", "welfare", "health"}

    posted = await asyncio.to_thread(
        client.post,
        "violation",
        address="12 Lê Lợi",
        name="Tư Nguyễn",
        phone="0912000111",
        description=WORDS,
        lat="10.7769",
        long="106.7009",
    )
    assert client.post_response.status_code == 201, client.post_response.text
    answer = posted["request"] if fmt == "xml" else posted[0]
    number = answer["service_request_id"]
    assert number.isdigit() and "token" not in answer  # realtime: the number at once, no token

    read = await asyncio.to_thread(client.request, number)
    record = read["request"] if fmt == "xml" else read[0]
    assert (record["service_request_id"], record["status"], record["service_code"]) == (
        number,
        "open",
        "violation",
    )
    everything = await asyncio.to_thread(client.requests, "violation")
    listed = _listed(everything["request"]) if fmt == "xml" else everything
    assert number in [r["service_request_id"] for r in listed]

    wrong = three.Three(_endpoint(site), format=fmt, api_key="h1022_wrong")
    refused = await asyncio.to_thread(wrong.post, "violation", address="12 Lê Lợi", description=WORDS)
    assert wrong.post_response.status_code == 403
    error = refused["error"] if fmt == "xml" else refused[0]
    assert str(error["code"]) == "403" and "api_key" in error["description"]


def test_what_xml_cannot_carry_is_left_out_and_the_document_still_parses() -> None:
    from web.integrations.open311_format import to_xml

    document = to_xml(
        "service_requests", [{"status_notes": 'Đã xử lý\x00\x0b\ud800 <xong> & "hết"\t', "lat": None}]
    )
    parsed = xmltodict.parse(document)["service_requests"]["request"]
    assert parsed == {"status_notes": 'Đã xử lý <xong> & "hết"', "lat": None}  # its reader strips the tab
