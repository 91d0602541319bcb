"""Files as citizens send them: real photos, with a camera's EXIF and GPS position, as JPEG and as an
iPhone's HEIC."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (30, 120, 30)).save(out, "PNG")
    return out.getvalue()


PNG = _png()  # a real photo: files are judged by their content (casework/attachments.py)


SAIGON = {1: "N", 2: (10.0, 46.0, 36.84), 3: "E", 4: (106.0, 42.0, 3.24)}  # 10.776900, 106.700900


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"  # Make
    exif[0x0131] = "<script>alert(1)</script>"  # Software
    gps = exif.get_ifd(0x8825)
    gps.update(SAIGON)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def heic_with_gps() -> bytes:
    """A photo as an iPhone sends it by default: HEIC, with the camera and its GPS position in EXIF."""
    image = Image.new("RGB", (64, 48), (20, 160, 60))
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    exif.get_ifd(0x8825).update(SAIGON)
    out = io.BytesIO()
    image.save(out, "HEIF", exif=exif.tobytes())
    return out.getvalue()


def classic_pdf(catalog: bytes, *more: bytes) -> bytes:
    """A PDF with a cross-reference table: object 1 the catalog, then `more`."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate((catalog, b"<< /Type /Pages /Kids [] /Count 0 >>", *more), start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1)
    out += b"".join(b"%010d 00000 n \n" % at for at in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref)
    return bytes(out)


def object_stream_pdf(catalog: bytes) -> bytes:
    """A PDF whose catalog lives compressed in an object stream, found through a cross-reference stream:
    nothing of it can be read in the file's bytes."""
    inner = b"1 0 "
    packed = zlib.compress(inner + catalog)
    out = bytearray(b"%PDF-1.7\n")
    offsets = {}
    offsets[2] = len(out)
    out += b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    offsets[3] = len(out)
    out += b"3 0 obj\n<< /Type /ObjStm /N 1 /First %d /Filter /FlateDecode /Length %d >>\nstream\n" % (
        len(inner),
        len(packed),
    )
    out += packed + b"\nendstream\nendobj\n"
    offsets[4] = len(out)
    rows = struct.pack(">BIH", 0, 0, 65535) + struct.pack(">BIH", 2, 3, 0)
    rows += b"".join(struct.pack(">BIH", 1, offsets[n], 0) for n in (2, 3, 4))
    out += b"4 0 obj\n<< /Type /XRef /Size 5 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n" % len(rows)
    out += rows + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % offsets[4]
    return bytes(out)
