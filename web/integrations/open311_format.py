"""Open311 GeoReport v2's two formats from one value: JSON as it stands, XML by the specification's mapping
(the Spark convention): a root element, one child element per key, a list as repeated elements named for
one of its items, `null` as an empty element, booleans as `true`/`false`. XML is the format the
specification requires, JSON the optional one; both are served wherever a resource ends in `.xml` or
`.json`. The XML carries no namespace and the declaration with its encoding, as the specification asks."""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from aiohttp import web

FORMATS = {"xml": "text/xml", "json": "application/json"}
# The element each list's items take, as in the specification's examples.
ITEM = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


# What XML 1.0 cannot carry at all (control characters but tab and line ends, lone surrogates, U+FFFE/F):
# a staff member's pasted text must not make the whole document unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: Element, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            _fill(SubElement(element, key), inner)
    elif isinstance(value, list):
        item = ITEM[element.tag]
        for inner in value:
            _fill(SubElement(element, item), inner)
    else:
        element.text = _text(value)


def to_xml(root: str, value: Any) -> bytes:
    """`value` as the XML document whose root element is `root` (a list's items named by ITEM)."""
    element = Element(root)
    _fill(element, value)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(element, encoding="unicode").encode("utf-8")


def respond(fmt: str, root: str, value: Any, status: int = 200) -> web.Response:
    """The resource in the format its name asked for (`root` names the XML document's element)."""
    if fmt == "xml":
        return web.Response(body=to_xml(root, value), status=status, content_type="text/xml", charset="utf-8")
    return web.json_response(value, status=status)


def error(fmt: str, code: int, description: str) -> web.Response:
    """The specification's error document: a list of {code, description}, with the same HTTP status."""
    return respond(fmt, "errors", [{"code": code, "description": description}], status=code)
