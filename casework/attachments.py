"""Photos and documents that come with a request, from a citizen or an agency: what a file is, decided by
its content and never by the name or type it was sent with; photos decoded and encoded anew (Pillow), so
that nothing but the pixels is kept (no EXIF: no camera, no time, no GPS position, no comment, no script
hidden in a chunk); PDF documents kept as sent, unless they carry actions a reader would run.

The position a photo's EXIF holds is read before it is dropped: a citizen who chose to share the place
gives it to the request, never to the file."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject

from hotline.db.models import RequestFile
from hotline.errors import HotlineError

MOST_BYTES = 10 * 1024 * 1024
# Decoding a small file into a huge image is a way to exhaust memory (a 167 kB PNG can hold 40 M pixels):
# the size is judged from the header, before anything is decoded. A phone's photo is 12-50 M pixels; a
# JPEG is decoded at a reduced scale (its DCT allows 1/2, 1/4, 1/8 for free) to at most DECODED_PIXELS.
MOST_PIXELS = 64_000_000
MOST_PIXELS_UNSCALED = 24_000_000  # PNG and WebP cannot be decoded at a reduced scale
DECODED_PIXELS = 16_000_000
# What is kept: enough for an agency to see the problem; a larger photo is scaled down to it.
LONGEST_SIDE = 4096
SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "application/pdf": ".pdf"}
_PIL_KINDS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}
# iPhones send HEIC by default: it is read (libheif, through pillow-heif) and kept as a JPEG, which every
# browser and agency can open.
KEPT_AS = {"image/heic": "image/jpeg"}
pillow_heif.register_heif_opener()
# PDF names of what makes a reader act beyond showing the document: run a script, start a program, open
# another document or an embedded file, send or import form data, play rich media. A trigger alone
# (/OpenAction, /AA) is no harm: most documents open at their first page with /OpenAction /GoTo.
PDF_ACTIONS = frozenset(
    {
        "/JavaScript",
        "/JS",
        "/Launch",
        "/EmbeddedFile",
        "/EmbeddedFiles",
        "/RichMedia",
        "/RichMediaExecute",
        "/Rendition",
        "/SubmitForm",
        "/ImportData",
        "/GoToR",
        "/GoToE",
        "/XFA",
    }
)
MOST_PDF_OBJECTS = 200_000
_GPS_IFD = 0x8825


class FileRefused(HotlineError):
    """Why a file is not taken, for the person who sent it."""


@dataclass(frozen=True)
class CheckedFile:
    name: str  # as sent, for display only
    content_type: str
    data: bytes
    position: tuple[float, float] | None = None  # (latitude, longitude) from a photo's EXIF


def display_name(name: str) -> str:
    return "".join(ch for ch in Path(name or "").name if ch.isprintable())[:255] or "file"


def check(name: str, data: bytes) -> CheckedFile:
    """The file made safe to keep, or FileRefused with the reason."""
    if len(data) > MOST_BYTES:
        raise FileRefused(f"{display_name(name)}: a file may be at most {MOST_BYTES // (1024 * 1024)} MB")
    if not data:
        raise FileRefused(f"{display_name(name)}: the file is empty")
    if data.startswith(b"%PDF-"):
        return _pdf(name, data)
    return _photo(name, data)


def _pdf(name: str, data: bytes) -> CheckedFile:
    """Kept as sent, if none of its parsed objects (every one: names with their #xx escapes decoded, those
    in object streams and compressed streams included) names an action."""
    refused = FileRefused(f"{display_name(name)}: a PDF with scripts, actions or embedded files is not taken")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise FileRefused(f"{display_name(name)}: an encrypted PDF is not taken (it cannot be checked)")
        if _acts(reader.trailer) or any(_acts(obj) for obj in _pdf_objects(reader)):
            raise refused
    except FileRefused:
        raise
    except Exception:  # a hostile file may break the parser in any way: it is refused, never a crash
        raise FileRefused(f"{display_name(name)}: the PDF cannot be read") from None
    return CheckedFile(display_name(name), "application/pdf", data)


def _pdf_objects(reader: PdfReader) -> Iterator[PdfObject]:
    """Every indirect object of the document: in the cross-reference tables and in object streams."""
    ids = {(num, gen) for gen, table in reader.xref.items() for num in table}
    ids |= {(num, 0) for num in reader.xref_objStm}
    if len(ids) > MOST_PDF_OBJECTS:
        raise PyPdfError(f"{len(ids)} objects")
    for num, gen in sorted(ids):
        obj = reader.get_object(IndirectObject(num, gen, reader))
        if obj is not None:
            yield obj


def _acts(obj: object, depth: int = 0) -> bool:
    """True if a name of PDF_ACTIONS stands in obj, as a key or a value, at any depth (not following
    references: each indirect object is judged on its own)."""
    if depth > 64:
        raise PyPdfError("nested too deep")
    if isinstance(obj, NameObject):
        return str(obj) in PDF_ACTIONS
    if isinstance(obj, DictionaryObject):
        return any(str(k) in PDF_ACTIONS or _acts(v, depth + 1) for k, v in obj.items())
    if isinstance(obj, ArrayObject):
        return any(_acts(v, depth + 1) for v in obj)
    return False


def _photo(name: str, data: bytes) -> CheckedFile:
    refused = FileRefused(f"{display_name(name)}: only photos (JPEG, PNG, WebP, HEIC) and PDF documents")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = _PIL_KINDS.get(probe.format or "")
            if kind is None:
                raise refused
            pixels_in_header = probe.width * probe.height
            limit = MOST_PIXELS if kind == "image/jpeg" else MOST_PIXELS_UNSCALED
            if pixels_in_header > limit:
                raise FileRefused(
                    f"{display_name(name)}: the photo is {probe.width} x {probe.height} pixels; at most "
                    f"{limit // 1_000_000} million are taken"
                )
            probe.verify()  # the whole file, not only its header
        with Image.open(io.BytesIO(data)) as image:
            position = _position(image)
            if kind == "image/jpeg" and pixels_in_header > DECODED_PIXELS:
                scale = (DECODED_PIXELS / pixels_in_header) ** 0.5
                image.draft("RGB", (int(image.width * scale), int(image.height * scale)))
            image.thumbnail((LONGEST_SIDE, LONGEST_SIDE))  # in place, before any copy is made
            upright = ImageOps.exif_transpose(image)  # the pixels as the camera meant them, then no EXIF
            kept = KEPT_AS.get(kind, kind)
            pixels = upright.convert("RGB") if kept == "image/jpeg" else upright.copy()
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        SyntaxError,
        ValueError,
        RuntimeError,
    ):
        raise refused from None  # libheif reports a broken file as RuntimeError
    # Nothing but the pixels: Pillow would write a JPEG comment or an ICC profile (free text and bytes of
    # the sender's) from the image's info.
    pixels.info = {}
    out = io.BytesIO()
    pixels.save(
        out, format={"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}[kept], quality=90
    )
    return CheckedFile(display_name(name), kept, out.getvalue(), position)


def _position(image: Image.Image) -> tuple[float, float] | None:
    try:
        gps = image.getexif().get_ifd(_GPS_IFD)
        lat, lat_ref, lon, lon_ref = gps.get(2), gps.get(1), gps.get(4), gps.get(3)
        if not (lat and lon):
            return None
        latitude = _degrees(lat) * (-1 if str(lat_ref).upper() == "S" else 1)
        longitude = _degrees(lon) * (-1 if str(lon_ref).upper() == "W" else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, AttributeError):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return round(latitude, 6), round(longitude, 6)


def _degrees(value: tuple[float, float, float]) -> float:
    d, m, s = (float(part) for part in value)
    return d + m / 60 + s / 3600


def store(folder: Path, checked: CheckedFile, purpose: str, by: str) -> RequestFile:
    """Written under a name of ours (never the sender's); the caller adds it to the request and, if the
    request is not committed, removes the file again."""
    folder.mkdir(parents=True, exist_ok=True)
    stored = secrets.token_hex(16) + SUFFIXES[checked.content_type]
    (folder / stored).write_bytes(checked.data)
    return RequestFile(
        name=checked.name,
        content_type=checked.content_type,
        size=len(checked.data),
        stored=stored,
        purpose=purpose,
        uploaded_by=by,
    )
