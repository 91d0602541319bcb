"""Files that come with a request are judged by their content: photos are encoded anew with nothing but
their pixels (no EXIF, no GPS, no text chunks), their position read first; PDFs with actions, programs
dressed as photos, broken or oversized files and decompression bombs are refused with the reason."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin
from pypdf import PdfWriter

from casework import attachments
from casework.attachments import FileRefused
from tests.helpers.files import classic_pdf, heic_with_gps, jpeg_with_gps, object_stream_pdf


def test_a_photo_loses_its_exif_and_gives_its_position() -> None:
    sent = jpeg_with_gps()
    with Image.open(io.BytesIO(sent)) as before:
        assert before.getexif().get_ifd(0x8825)  # the camera's GPS position is in the file sent
    kept = attachments.check("IMG_0001.jpg", sent)
    assert kept.content_type == "image/jpeg" and kept.position == (10.7769, 106.7009)
    with Image.open(io.BytesIO(kept.data)) as after:
        assert not after.getexif() and after.size == (64, 48)
    assert b"Camera maker" not in kept.data and b"script" not in kept.data


def test_a_png_keeps_its_pixels_and_loses_its_text_chunks() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<script>alert(1)</script>")
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 128, 0, 255)).save(out, "PNG", pnginfo=info)
    kept = attachments.check("chart.png", out.getvalue())
    assert kept.content_type == "image/png" and b"script" not in kept.data and kept.position is None
    with Image.open(io.BytesIO(kept.data)) as after:
        assert after.getpixel((3, 3)) == (0, 128, 0, 255)


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("anh.jpg", b"MZ\x90\x00" + b"\x00" * 100, "only photos"),  # a program named as a photo
        ("anh.jpg", jpeg_with_gps()[:200], "only photos"),  # cut short
        ("trong.png", b"", "empty"),
        ("lon.jpg", b"\xff\xd8\xff" + b"\x00" * attachments.MOST_BYTES, "at most 10 MB"),
    ],
)
def test_files_that_are_not_safe_photos_or_documents_are_refused_with_the_reason(
    name: str, data: bytes, why: str
) -> None:
    with pytest.raises(FileRefused, match=why):
        attachments.check(name, data)


def test_a_small_file_that_would_decode_into_a_huge_image_is_refused() -> None:
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")  # a few kB, 400 million pixels
    assert len(out.getvalue()) < 200_000
    with pytest.raises(FileRefused, match="only photos"):  # Pillow itself will not open it
        attachments.check("bom.png", out.getvalue())


SCRIPT = b"<< /S /JavaScript /JS (app.alert(1)) >>"


@pytest.mark.parametrize(
    "catalog",
    [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction " + SCRIPT + b" >>",
        b"<< /Type /Catalog /Pages 2 0 R /Open#41ction << /S /JavaScript /JS (x) >> >>",
        b"<< /Type /Catalog /Pages 2 0 R /Names << /J#61vaScript 3 0 R >> >>",
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /#4Caunch /F (cmd.exe) >> >>",
        b"<< /Type /Catalog /Pages 2 0 R /A#41 << /O << /S /JavaScript >> >> >>",
    ],
)
def test_a_pdf_that_acts_is_refused_however_its_names_are_written(catalog: bytes) -> None:
    for pdf in (classic_pdf(catalog, b"<< >>"), object_stream_pdf(catalog)):
        with pytest.raises(FileRefused, match="scripts, actions or embedded files"):
            attachments.check("giay-to.pdf", pdf)


def test_a_pdf_that_cannot_be_parsed_or_is_encrypted_is_refused() -> None:
    with pytest.raises(FileRefused, match="cannot be read"):
        attachments.check("hong.pdf", b"%PDF-1.7\n1 0 obj << /OpenAction")
    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    writer.encrypt("mat-khau")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(FileRefused, match="encrypted"):
        attachments.check("khoa.pdf", out.getvalue())


def test_real_documents_are_kept_even_when_they_open_at_their_first_page() -> None:
    # What LaTeX and office suites write: /OpenAction to go to page 1, fitted.
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /GoTo /D [3 0 R /Fit] >> >>"
    for pdf in (classic_pdf(catalog, b"<< /Type /Page >>"), object_stream_pdf(catalog)):
        assert attachments.check("van-ban.pdf", pdf).data == pdf
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    assert attachments.check("trang.pdf", out.getvalue()).content_type == "application/pdf"


def test_a_plain_pdf_is_kept_as_sent_under_a_clean_name() -> None:
    pdf = object_stream_pdf(b"<< /Type /Catalog /Pages 2 0 R >>")
    assert attachments.check("a.pdf", classic_pdf(b"<< /Type /Catalog /Pages 2 0 R >>")).data.startswith(
        b"%PDF"
    )
    kept = attachments.check("../../etc/giấy\x07 tờ.pdf", pdf)
    assert (kept.content_type, kept.data, kept.name) == ("application/pdf", pdf, "giấy tờ.pdf")


def _png_of(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG")
    return out.getvalue()


def test_the_pixel_count_is_judged_from_the_header_before_decoding() -> None:
    # 40 M pixels in 167 kB: refused from the header, never decoded (a decode would take 160 MB and more).
    bomb = _png_of(8000, 5000)
    assert len(bomb) < 200_000
    with pytest.raises(FileRefused, match=r"8000 x 5000 pixels; at most 24 million"):
        attachments.check("anh.png", bomb)


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_and_kept_at_most_4096_pixels_wide() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8000, 6000), (10, 120, 200)).save(out, "JPEG", quality=50)  # 48 M pixels
    kept = attachments.check("IMG_48MP.jpg", out.getvalue())
    with Image.open(io.BytesIO(kept.data)) as after:
        assert max(after.size) <= attachments.LONGEST_SIDE and after.size[0] / after.size[1] == 4 / 3


async def test_the_worker_process_checks_files_and_survives_what_kills_it() -> None:
    from casework import file_worker

    worker = file_worker.FileWorker()
    try:
        kept = await worker.check("IMG_0001.jpg", jpeg_with_gps())
        assert kept.position == (10.7769, 106.7009)
        with pytest.raises(FileRefused, match="at most 24 million"):
            await worker.check("bom.png", _png_of(8000, 5000))
        # The worker is killed mid-way (the kernel, a decoder's crash): that file is refused, the next
        # one is checked by a new worker.
        pool = worker._started()
        (process,) = [*pool._processes.values()]  # type: ignore[attr-defined]
        process.kill()
        process.join(5)
        with pytest.raises(FileRefused, match="could not be read"):
            await worker.check("IMG_0002.jpg", jpeg_with_gps())
        assert (await worker.check("IMG_0003.jpg", jpeg_with_gps())).content_type == "image/jpeg"
    finally:
        worker.close()


def test_the_worker_cannot_take_more_memory_than_its_ceiling() -> None:
    import multiprocessing

    from casework import file_worker

    def grab() -> None:
        file_worker._limit_memory()
        try:
            bytearray(2 * file_worker.WORKER_MEMORY)
        except MemoryError:
            raise SystemExit(3) from None

    process = multiprocessing.get_context("fork").Process(target=grab)
    process.start()
    process.join(30)
    assert process.exitcode == 3


def test_a_jpeg_comment_and_icc_profile_do_not_survive() -> None:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(
        out, "JPEG", comment=b"<script>alert(1)</script>", icc_profile=b"hidden-bytes" * 10
    )
    with Image.open(io.BytesIO(out.getvalue())) as sent:
        assert sent.info.get("comment") == b"<script>alert(1)</script>"
    kept = attachments.check("anh.jpg", out.getvalue())
    assert b"script" not in kept.data and b"hidden-bytes" not in kept.data
    with Image.open(io.BytesIO(kept.data)) as after:
        assert "comment" not in after.info and "icc_profile" not in after.info


def test_an_iphone_heic_photo_is_kept_as_a_jpeg_without_its_exif() -> None:
    sent = heic_with_gps()
    assert sent[4:12] == b"ftypheic"
    kept = attachments.check("IMG_4032.HEIC", sent)
    assert kept.content_type == "image/jpeg" and kept.position == (10.7769, 106.7009)
    with Image.open(io.BytesIO(kept.data)) as photo:
        assert photo.format == "JPEG" and photo.size == (64, 48) and not photo.getexif()
    with pytest.raises(FileRefused, match=r"IMG_4033\.HEIC"):
        attachments.check("IMG_4033.HEIC", sent[: len(sent) // 2])  # cut short in transfer
