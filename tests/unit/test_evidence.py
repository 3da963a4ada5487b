"""Evidence files (bot.tickets.evidence): judged by content, cleaned of metadata, kept
under their hash. Every fixture is built here with Pillow: no binary file in the repo."""

from __future__ import annotations

import hashlib
import io
import os
import resource
import stat
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageCms, PngImagePlugin

from bot.settings import get_settings
from bot.tickets import evidence
from bot.tickets.evidence import EvidenceRefused

# Yiwu, to the second: what must never leave the user's phone with a photo.
GPS = {1: "N", 2: (29.0, 18.0, 36.5), 3: "E", 4: (120.0, 4.0, 48.0)}
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret-xmp</x:xmpmeta>'
PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"


def jpeg_with_gps(size: tuple[int, int] = (40, 20), orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "SecretPhone"  # Make
    exif.get_ifd(0x8825).update(GPS)  # GPSInfo
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(
        out, "JPEG", exif=exif, xmp=XMP, icc_profile=icc, comment=b"secret-comment"
    )
    return out.getvalue()


def png(size: tuple[int, int] = (8, 8), mode: str = "RGB", **params: Any) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "red" if mode != "1" else 1).save(out, "PNG", **params)
    return out.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    """A 1-bit grey PNG of ``width``x``height`` whose pixels (all black) compress
    about 1000:1: a few hundred kilobytes that decode to width*height bytes."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def refused(data: bytes, **kwargs: Any) -> str:
    with pytest.raises(EvidenceRefused) as caught:
        evidence.check(data, **kwargs)
    return caught.value.code


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Environment variables for get_settings(), read afresh and forgotten after."""
    get_settings.cache_clear()
    try:
        yield monkeypatch
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


# --- metadata is gone ---------------------------------------------------------------


def test_jpeg_loses_gps_and_every_other_metadata(tmp_path: Path) -> None:
    raw = jpeg_with_gps()
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(0x8825)  # the fixture has GPS

    stored = evidence.store(raw, name="IMG_0001.JPG", root=tmp_path)

    data = evidence.read(stored.sha256, root=tmp_path)
    image = Image.open(io.BytesIO(data))
    assert not image.getexif()
    assert not image.getexif().get_ifd(0x8825)
    for marker in (b"Exif", b"GPS", b"SecretPhone", b"secret-xmp", b"secret-comment", b"ICC"):
        assert marker not in data, marker
    assert not {"exif", "xmp", "icc_profile", "comment"} & image.info.keys()
    assert (stored.mime, stored.name, stored.size) == ("image/jpeg", "IMG_0001.jpg", len(data))
    assert stored.sha256 == hashlib.sha256(data).hexdigest()


def test_exif_orientation_is_applied_before_it_is_dropped() -> None:
    # Orientation 6: the camera was turned, the picture is shown rotated 90°.
    data, _, _ = evidence.check(jpeg_with_gps(size=(40, 20), orientation=6))
    image = Image.open(io.BytesIO(data))
    assert image.size == (20, 40)
    assert b"Exif" not in data


def test_stored_file_reports_the_upright_dimensions(tmp_path: Path) -> None:
    stored = evidence.store(jpeg_with_gps(size=(40, 20), orientation=6), root=tmp_path)
    assert (stored.width, stored.height) == (20, 40)


def test_png_text_chunks_and_exif_are_gone() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret-text")
    info.add_text("Author", "secret-ztxt", zip=True)
    info.add_itxt("Description", "secret-itxt", lang="en")
    exif = Image.Exif()
    exif[0x010F] = "SecretPhone"  # an Exif without a main-IFD tag is not written at all
    exif.get_ifd(0x8825).update(GPS)
    raw = png(pnginfo=info, exif=exif, dpi=(300, 300))
    assert b"tEXt" in raw and b"zTXt" in raw and b"iTXt" in raw and b"eXIf" in raw

    data, mime, _ = evidence.check(raw)

    assert mime == "image/png"
    for marker in (b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"pHYs", b"secret"):
        assert marker not in data, marker
    image = Image.open(io.BytesIO(data))
    assert not image.text  # type: ignore[attr-defined]
    assert not image.getexif()


def test_png_keeps_its_transparency() -> None:
    data, _, _ = evidence.check(png(mode="RGBA"))
    assert Image.open(io.BytesIO(data)).mode == "RGBA"
    palette = Image.new("P", (4, 4), 0)
    out = io.BytesIO()
    palette.save(out, "PNG", transparency=0)
    data, _, _ = evidence.check(out.getvalue())
    assert Image.open(io.BytesIO(data)).info.get("transparency") == 0


def test_webp_loses_exif_and_xmp() -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretPhone"
    exif.get_ifd(0x8825).update(GPS)
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "blue").save(out, "WEBP", exif=exif, xmp=XMP)
    assert b"EXIF" in out.getvalue()

    data, mime, name = evidence.check(out.getvalue(), name="x.webp")

    assert (mime, name) == ("image/webp", "x.webp")
    assert b"EXIF" not in data and b"XMP" not in data and b"secret" not in data
    assert not Image.open(io.BytesIO(data)).getexif()


def test_gif_keeps_its_first_frame_and_loses_its_comment() -> None:
    frames = [Image.new("RGB", (10, 10), colour) for colour in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], comment=b"secret")
    assert Image.open(io.BytesIO(out.getvalue())).n_frames == 3  # type: ignore[attr-defined]

    data, mime, _ = evidence.check(out.getvalue())

    image = Image.open(io.BytesIO(data))
    assert mime == "image/gif"
    assert image.n_frames == 1  # type: ignore[attr-defined]
    assert b"secret" not in data and "comment" not in image.info


def test_animated_png_is_kept_as_its_first_frame() -> None:
    frames = [Image.new("RGB", (6, 6), colour) for colour in ("red", "green")]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:])
    assert b"acTL" in out.getvalue()

    data, mime, name = evidence.check(out.getvalue(), name="anim.apng")

    assert (mime, name) == ("image/png", "anim.png")
    assert b"acTL" not in data
    assert Image.open(io.BytesIO(data)).getpixel((0, 0)) == (255, 0, 0)


# --- the content decides ------------------------------------------------------------


def test_pdf_is_kept_byte_for_byte(tmp_path: Path) -> None:
    stored = evidence.store(PDF, name="bank statement.pdf", root=tmp_path)
    assert evidence.read(stored.sha256, root=tmp_path) == PDF
    assert (stored.mime, stored.name, stored.size) == (
        "application/pdf",
        "bank statement.pdf",
        len(PDF),
    )
    assert (stored.width, stored.height) == (None, None)


def test_a_pdf_not_starting_with_its_signature_is_refused() -> None:
    assert refused(b"\xef\xbb\xbf" + PDF) == "not_accepted"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 120, "photo.jpg"),
        (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120 + b"PE\x00\x00", "invoice.jpg"),
        (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "receipt.png"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "a.svg"),
        (b"just some text, not a picture\n", "note.pdf"),
    ],
)
def test_what_is_not_an_image_or_a_pdf_is_refused_whatever_its_name(data: bytes, name: str) -> None:
    assert refused(data, name=name) == "not_accepted"


def test_a_zip_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("photo.jpg", jpeg_with_gps())
    assert refused(out.getvalue(), name="photos.jpg") == "not_accepted"


def test_a_png_named_pdf_is_kept_as_a_png() -> None:
    _, mime, name = evidence.check(png(), name="invoice.pdf.exe")
    assert (mime, name) == ("image/png", "invoice.pdf.png")


# --- what claims to be an image must decode ---------------------------------------


def test_a_truncated_jpeg_is_unreadable() -> None:
    raw = jpeg_with_gps(size=(64, 64))
    assert refused(raw[: len(raw) // 2]) == "unreadable"


def test_an_image_signature_followed_by_anything_else_is_unreadable() -> None:
    assert refused(b"\xff\xd8\xff\xe0" + b"<html><script>alert(1)</script></html>") == (
        "unreadable"
    )
    assert refused(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64) == "unreadable"


def test_a_png_with_a_bad_checksum_is_unreadable() -> None:
    raw = bytearray(png())
    raw[29] ^= 0xFF  # the IHDR's CRC
    assert refused(bytes(raw)) == "unreadable"


def test_a_decompression_bomb_is_refused_without_decoding_it() -> None:
    bomb = png_declaring(30_000, 30_000)  # 900 megapixels: 900 MB once decoded
    assert len(bomb) < 2 * 1024 * 1024
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux

    assert refused(bomb) == "unreadable"

    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mb < 100


def test_a_picture_over_the_pixel_limit_is_refused_below_pillows_own_limit() -> None:
    # Between MAX_PIXELS and twice that Pillow only warns; the module refuses itself.
    side = int((evidence.MAX_PIXELS * 1.2) ** 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        assert refused(png_declaring(side, side), max_bytes=10**8) == "unreadable"


# --- sizes --------------------------------------------------------------------------


def pdf_of_size(size: int) -> bytes:
    return PDF + b"%" + b"x" * (size - len(PDF) - 2) + b"\n"


def test_exactly_max_bytes_is_accepted_and_one_more_is_too_big() -> None:
    data, _, _ = evidence.check(pdf_of_size(2048), max_bytes=2048)
    assert len(data) == 2048
    assert refused(pdf_of_size(2049), max_bytes=2048) == "too_big"


def test_an_image_that_grows_past_the_limit_when_reencoded_is_too_big() -> None:
    noise = Image.effect_noise((64, 64), 100).convert("RGB")
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=20)
    small = out.getvalue()
    assert refused(small, max_bytes=len(small)) == "too_big"


def test_a_huge_upload_is_refused_by_size_before_any_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed a file that is too big")

    monkeypatch.setattr("filetype.guess", never)
    monkeypatch.setattr("PIL.Image.open", never)
    huge = b"\xff\xd8\xff\xe0" + bytes(50 * 1024 * 1024)
    assert len(huge) > get_settings().evidence_max_bytes

    assert refused(huge) == "too_big"


def test_the_default_limit_and_root_come_from_the_settings(
    settings_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings_env.setenv("EVIDENCE_MAX_BYTES", "1000")
    settings_env.setenv("EVIDENCE_DIR", str(tmp_path / "configured"))

    assert refused(pdf_of_size(1001)) == "too_big"
    stored = evidence.store(pdf_of_size(1000))

    assert evidence.path_of(stored.sha256) == tmp_path / "configured" / stored.sha256[:2] / (
        stored.sha256
    )
    assert evidence.read(stored.sha256) == pdf_of_size(1000)


def test_an_empty_file_is_refused() -> None:
    assert refused(b"") == "empty"


# --- storage ------------------------------------------------------------------------


def test_the_same_content_twice_is_one_file(tmp_path: Path) -> None:
    first = evidence.store(PDF, name="a.pdf", root=tmp_path)
    second = evidence.store(PDF, name="b.pdf", root=tmp_path)

    assert first.sha256 == second.sha256 == hashlib.sha256(PDF).hexdigest()
    assert second.name == "b.pdf"
    assert files_under(tmp_path) == [tmp_path / first.sha256[:2] / first.sha256]


def test_files_are_private_to_the_service_user(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    old_umask = os.umask(0o022)
    try:
        stored = evidence.store(png(), root=root)
    finally:
        os.umask(old_umask)
    path = evidence.path_of(stored.sha256, root=root)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_delete_removes_the_file_once(tmp_path: Path) -> None:
    stored = evidence.store(PDF, root=tmp_path)
    assert evidence.delete(stored.sha256, root=tmp_path) is True
    assert evidence.delete(stored.sha256, root=tmp_path) is False
    with pytest.raises(FileNotFoundError):
        evidence.read(stored.sha256, root=tmp_path)


@pytest.mark.parametrize(
    "sha",
    [
        "../etc/passwd",
        "../" + "a" * 61,
        "A" * 64,
        "a" * 63,
        "a" * 65,
        "a" * 64 + "\n",
        "g" * 64,
        "",
        "/" + "a" * 63,
    ],
)
def test_only_a_lowercase_hex_sha256_names_a_file(sha: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        evidence.path_of(sha, root=tmp_path)
    with pytest.raises(ValueError):
        evidence.read(sha, root=tmp_path)
    with pytest.raises(ValueError):
        evidence.delete(sha, root=tmp_path)
    with pytest.raises(ValueError):
        evidence.take_quarantined(sha, root=tmp_path)


def test_path_of_a_valid_hash(tmp_path: Path) -> None:
    sha = "ab" + "0" * 62
    assert evidence.path_of(sha, root=tmp_path) == tmp_path / "ab" / sha


# --- quarantine ---------------------------------------------------------------------


def test_quarantine_round_trip(tmp_path: Path) -> None:
    raw = b"\x7fELF anything at all: quarantine judges the size only"

    sha = evidence.quarantine(raw, root=tmp_path)

    path = tmp_path / "incoming" / sha
    assert sha == hashlib.sha256(raw).hexdigest()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert evidence.take_quarantined(sha, root=tmp_path) == raw
    assert not path.exists()
    assert evidence.take_quarantined(sha, root=tmp_path) is None
    assert files_under(tmp_path) == []


def test_quarantine_refuses_by_size(tmp_path: Path) -> None:
    with pytest.raises(EvidenceRefused) as caught:
        evidence.quarantine(b"", root=tmp_path)
    assert caught.value.code == "empty"
    with pytest.raises(EvidenceRefused) as caught:
        evidence.quarantine(bytes(get_settings().evidence_max_bytes + 1), root=tmp_path)
    assert caught.value.code == "too_big"
    assert files_under(tmp_path) == []


def test_a_quarantined_upload_is_checked_like_any_other(tmp_path: Path) -> None:
    sha = evidence.quarantine(jpeg_with_gps(), root=tmp_path)
    raw = evidence.take_quarantined(sha, root=tmp_path)
    assert raw is not None
    stored = evidence.store(raw, name="upload.jpg", root=tmp_path)
    assert b"GPS" not in evidence.read(stored.sha256, root=tmp_path)
    assert files_under(tmp_path) == [evidence.path_of(stored.sha256, root=tmp_path)]


# --- display names ------------------------------------------------------------------


def name_for(name: str | None, data: bytes | None = None) -> str:
    return evidence.check(png() if data is None else data, name=name)[2]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd.png"),
        ("..\\..\\Windows\\evil.exe", "evil.png"),
        ("\x00evil\n.jpg", "evil.png"),
        (".hidden", "hidden.png"),
        (".hidden.jpg", "hidden.png"),
        ("...", "photo.png"),
        ("", "photo.png"),
        (None, "photo.png"),
        ("folder/", "photo.png"),
        ("screenshot 2024.03.01", "screenshot 2024.03.png"),
        ("report", "report.png"),
        ("invoice\u202egpj.exe", "invoicegpj.png"),  # right-to-left override removed
        ("a\uff0f..\uff0fb.png", "b.png"),  # full-width solidus
        ('what:"is"<this>?.png', "what__is__this__.png"),
        ("CON.png", "_CON.png"),
        ("收据 照片.jpeg", "收据 照片.png"),
    ],
)
def test_safe_display_names(given: str | None, expected: str) -> None:
    assert name_for(given) == expected


def test_a_long_name_is_cut_to_100_characters_keeping_the_real_extension() -> None:
    name = name_for("x" * 300 + ".jpg")
    assert len(name) == evidence.MAX_NAME_CHARS == 100
    assert name == "x" * 96 + ".png"


def test_a_pdf_without_a_name_is_a_document() -> None:
    assert name_for(None, PDF) == "document.pdf"
    assert name_for("scan.jpg", PDF) == "scan.pdf"


def test_names_never_carry_a_separator_or_control_character() -> None:
    nasty = "".join(chr(c) for c in range(0, 0x80)) + "\u2028\u200b\ufeff/..\\"
    name = name_for(nasty)
    assert "/" not in name and "\\" not in name
    assert all(ch.isprintable() for ch in name)
    assert not name.startswith(".")
