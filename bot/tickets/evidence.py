"""Evidence files: the photos and documents users attach to a dispute ticket.

Every byte here comes from a stranger, so nothing is kept as it came in:

- **The content decides the type, never the name or a declared MIME type.** A file is
  judged by its first bytes (``filetype``); ``invoice.jpg`` that is really a Windows
  program is refused, and a PNG called ``invoice.pdf`` is kept as ``invoice.png``.
- **Images are decoded and encoded again.** Decoding the whole picture proves it is
  one (a truncated or forged file is refused), and writing only the pixels drops
  everything else a photo carries: the EXIF block with the GPS position of the user's
  home and the phone's serial, XMP, comments, PNG text chunks, ICC profiles, and
  whatever a polyglot hid after the image data. The EXIF orientation is applied first,
  so that the picture still stands the right way up without its metadata.
- **Limits come before parsing.** The size is checked before any parser sees a byte,
  and a picture declaring more than :data:`MAX_PIXELS` is refused from its header,
  before its pixels are decompressed (a 100 kB PNG can declare gigabytes).
- **PDFs are kept byte for byte.** Re-writing a PDF would need a PDF library, a larger
  attack surface than the one it removes; a PDF is therefore only as safe as the
  viewer staff open it with (serve it as a download, with ``nosniff``, never inline on
  the console's origin).

Accepted: JPEG, PNG, WebP, GIF and PDF. Animated images (GIF, APNG, animated WebP) keep
their first frame only: evidence is a still picture, and one frame cannot hide frames
or per-frame metadata. HEIC, TIFF, BMP and SVG are refused: phones and Telegram send
JPEG, and SVG is a script carrier.

Files are stored under the SHA-256 of their cleaned bytes (``root/ab/abcd…``), outside
the web root, so that the same photo sent twice is one file, a name can never escape
the directory, and a file proves it was not changed. Two tickets can name the same
file: the database decides when no evidence row needs it any more (:func:`delete`).

The functions here block (decoding, disk): call them from a thread in async code.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import filetype  # type: ignore[import-untyped]
from PIL import Image, ImageOps

from bot.settings import get_settings

RefusalCode = Literal["too_big", "empty", "not_accepted", "unreadable"]

PDF = "application/pdf"
# The real type of each accepted file, with the extension its display name gets.
_EXTENSION_OF = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    PDF: "pdf",
}
ACCEPTED = frozenset(_EXTENSION_OF)
# filetype's name of a type -> the one we store it as: an animated PNG keeps its first
# frame, which is a plain PNG.
_SAME_AS = {"image/apng": "image/png"}
# Pillow's name of each image format: Pillow is only allowed to try that one decoder.
_PILLOW_FORMAT = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
}

# 50 megapixels: well above any phone camera (a 48 MP sensor saves 12 MP by default) and
# a long scrolled screenshot, and at most 200 MB of pixels to decode (RGBA).
MAX_PIXELS = 50_000_000
# Pillow's own guard is process-wide: it warns above this and refuses above twice this,
# already in Image.open. _clean_image refuses above MAX_PIXELS itself; this lowers the
# point where Pillow stops on its own. This module is the only user of Pillow.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

MAX_NAME_CHARS = 100
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Characters that separate or mean something in a path or a Content-Disposition header
# on some system (Windows forbids all of these in a file name).
_UNSAFE_IN_NAME = re.compile(r'[<>:"/\\|?*;]')
# What the last suffix must look like to count as an extension to replace.
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,5}")
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
)
_INCOMING = "incoming"


class EvidenceRefused(ValueError):
    """A file that is not kept, and why, as a code the caller turns into the user's
    language: ``too_big``, ``empty``, ``not_accepted`` (not an image or a PDF, whatever
    its name says) or ``unreadable`` (claims to be an image but does not decode, or
    declares too many pixels). The message is for the log, never for the user."""

    def __init__(self, code: RefusalCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code: RefusalCode = code
        self.detail = detail


@dataclass(frozen=True)
class StoredFile:
    """What the database keeps of a stored file: its name on disk is ``sha256``; the
    type, size and dimensions are those of the cleaned file, not of the upload."""

    sha256: str
    mime: str
    size: int
    name: str
    width: int | None
    height: int | None


@dataclass(frozen=True)
class _Cleaned:
    data: bytes
    mime: str
    name: str
    width: int | None
    height: int | None


def check(
    data: bytes, *, name: str | None = None, max_bytes: int | None = None
) -> tuple[bytes, str, str]:
    """The bytes to keep, their real MIME type and a safe display name; or
    :class:`EvidenceRefused`. ``name`` is the user's file name, used for display only.
    ``max_bytes`` (default: the settings' ``evidence_max_bytes``) bounds both the
    upload and the cleaned file, which is what staff download and what is forwarded."""
    cleaned = _clean(data, name=name, max_bytes=max_bytes)
    return cleaned.data, cleaned.mime, cleaned.name


def store(data: bytes, *, name: str | None = None, root: Path | None = None) -> StoredFile:
    """Check and clean ``data``, then keep it under its hash. Storing the same content
    again writes nothing and returns the same hash. The file appears complete or not at
    all (a temporary file in the same directory, renamed into place), so a reader never
    sees half a photo and a crash leaves at worst a stray ``.tmp-`` file."""
    cleaned = _clean(data, name=name, max_bytes=None)
    sha = hashlib.sha256(cleaned.data).hexdigest()
    path = path_of(sha, root=root)
    if not path.exists():
        _ensure_dir(path.parent.parent)
        _ensure_dir(path.parent)
        _write_atomically(path, cleaned.data)
    return StoredFile(
        sha256=sha,
        mime=cleaned.mime,
        size=len(cleaned.data),
        name=cleaned.name,
        width=cleaned.width,
        height=cleaned.height,
    )


def path_of(sha256: str, *, root: Path | None = None) -> Path:
    """Where the file of this hash is kept. The hash comes back from the database and
    from URLs of the staff console, so it is checked to be exactly 64 lowercase hex
    digits: nothing else can name a path, least of all ``../``."""
    _require_sha256(sha256)
    return _root(root) / sha256[:2] / sha256


def read(sha256: str, *, root: Path | None = None) -> bytes:
    """The stored file's bytes; FileNotFoundError when it is not (or no longer) kept."""
    return path_of(sha256, root=root).read_bytes()


def delete(sha256: str, *, root: Path | None = None) -> bool:
    """Remove a stored file; True if there was one. Files are shared by content: the
    caller deletes only when no evidence row names this hash any more."""
    try:
        path_of(sha256, root=root).unlink()
    except FileNotFoundError:
        return False
    return True


def quarantine(data: bytes, *, root: Path | None = None) -> str:
    """Park a raw upload until the pipeline checks it, and return its hash (of the raw
    bytes). The web chat receives the file in the HTTP request but the message is
    answered in the pipeline's turn, like a Telegram file that is downloaded then:
    the upload waits here, unparsed, and is checked once, by the same :func:`check`.
    Only the size is judged here (``empty``, ``too_big``), so that a request cannot
    park more than one file's worth of bytes."""
    _check_size(data, None)
    sha = hashlib.sha256(data).hexdigest()
    path = _quarantine_path(sha, root)
    if not path.exists():
        _ensure_dir(path.parent.parent)
        _ensure_dir(path.parent)
        _write_atomically(path, data)
    return sha


def take_quarantined(sha256: str, *, root: Path | None = None) -> bytes | None:
    """The parked upload's bytes, removed from the quarantine; None when it is not
    there (already taken, or never parked). Taking is a rename first, so that two
    processes handling the same message never both get the file."""
    path = _quarantine_path(sha256, root)
    taken = path.with_name(f".taken-{os.getpid()}-{os.urandom(8).hex()}")
    try:
        os.rename(path, taken)
    except FileNotFoundError:
        return None
    try:
        return taken.read_bytes()
    finally:
        taken.unlink(missing_ok=True)


def sweep_quarantine(*, older_than_s: float, root: Path | None = None) -> int:
    """Remove parked uploads no message took (their request died before the message was
    stored, or it was never answered): how many were removed."""
    folder = _root(root) / _INCOMING
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # taken meanwhile
    return removed


def _safe_name(name: str | None, mime: str) -> str:
    """A name staff can see and download the file under: the user's own name for
    recognition, but only its last path component, without control or invisible
    characters (a right-to-left override turns ``gpj.exe`` into ``exe.jpg`` on screen),
    without characters a file system or an HTTP header gives a meaning to, not hidden
    (no leading dot), at most :data:`MAX_NAME_CHARS` characters, and ending with the
    extension of the real type instead of the claimed one."""
    extension = _EXTENSION_OF[mime]
    default = "document" if mime == PDF else "photo"
    stem = ""
    if name:
        # NFKC: full-width dots and slashes become the ASCII ones handled below.
        text = unicodedata.normalize("NFKC", name)
        text = re.split(r"[/\\]", text)[-1]
        text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
        text = _UNSAFE_IN_NAME.sub("_", text)
        text = " ".join(text.split())
        stem = text.strip(". ")
        head, dot, suffix = stem.rpartition(".")
        if dot and head and _EXTENSION.fullmatch(suffix):
            stem = head.rstrip(". ")
    if stem.split(".")[0].strip().upper() in _WINDOWS_DEVICES:
        stem = "_" + stem
    stem = stem[: MAX_NAME_CHARS - len(extension) - 1].rstrip(". ")
    return f"{stem or default}.{extension}"


def _clean(data: bytes, *, name: str | None, max_bytes: int | None) -> _Cleaned:
    limit = _check_size(data, max_bytes)
    kind = filetype.guess(data)
    mime: str = "" if kind is None else _SAME_AS.get(kind.mime, kind.mime)
    if mime not in ACCEPTED:
        raise EvidenceRefused("not_accepted", f"content is {mime or 'unknown'}, not an image/PDF")
    if mime == PDF:
        if not data.startswith(b"%PDF-"):
            # filetype also accepts a byte-order mark first; real PDF writers never do.
            raise EvidenceRefused("not_accepted", "PDF that does not start with %PDF-")
        cleaned, width, height = data, None, None
    else:
        cleaned, width, height = _clean_image(data, _PILLOW_FORMAT[mime])
        if len(cleaned) > limit:
            raise EvidenceRefused("too_big", f"{len(cleaned)} bytes once re-encoded")
    return _Cleaned(cleaned, mime, _safe_name(name, mime), width, height)


def _check_size(data: bytes, max_bytes: int | None) -> int:
    limit = get_settings().evidence_max_bytes if max_bytes is None else max_bytes
    if not data:
        raise EvidenceRefused("empty", "0 bytes")
    if len(data) > limit:
        raise EvidenceRefused("too_big", f"{len(data)} bytes, more than {limit}")
    return limit


def _clean_image(data: bytes, pillow_format: str) -> tuple[bytes, int, int]:
    """The picture's pixels, upright, in a new file of the same format, and its size.
    Any failure of Pillow's is ``unreadable``: a picture it cannot decode is not one."""
    try:
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as probe:
            _check_dimensions(probe, pillow_format)
            probe.verify()
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
            _check_dimensions(image, pillow_format)
            image.load()  # the first frame only, of an animated picture
            upright = ImageOps.exif_transpose(image)
        # Everything Pillow read besides the pixels (exif, xmp, icc_profile, comment,
        # PNG text, dpi...) lives in .info, and some encoders write from it when not
        # told otherwise: only transparency, which is part of the picture, stays.
        upright.info = {k: v for k, v in upright.info.items() if k == "transparency"}
        out = io.BytesIO()
        _encode(upright, pillow_format, out)
        return out.getvalue(), upright.width, upright.height
    except EvidenceRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise EvidenceRefused("unreadable", f"decompression bomb: {exc}") from exc
    except Exception as exc:  # any decoder error: truncated, forged, corrupt
        raise EvidenceRefused("unreadable", f"{pillow_format}: {exc!r}") from exc


def _check_dimensions(image: Image.Image, pillow_format: str) -> None:
    """From the header only: nothing has been decompressed yet."""
    if image.format != pillow_format:
        raise EvidenceRefused("unreadable", f"decoded as {image.format}")
    width, height = image.size
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise EvidenceRefused("unreadable", f"{width}x{height} pixels")


def _encode(image: Image.Image, pillow_format: str, out: io.BytesIO) -> None:
    """Write the pixels only: no exif, xmp, icc_profile or comment is ever passed."""
    if pillow_format == "JPEG":
        if image.mode not in {"L", "RGB", "CMYK"}:
            image = image.convert("RGB")
        image.save(out, format="JPEG", quality=90)
    elif pillow_format == "PNG":
        if image.mode not in {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}:
            image = image.convert("RGBA")
        image.save(out, format="PNG", optimize=True)
    elif pillow_format == "WEBP":
        if image.mode not in {"RGB", "RGBA"}:
            image = image.convert("RGBA" if image.has_transparency_data else "RGB")
        image.save(out, format="WEBP", quality=90)
    else:  # GIF: one frame, saved without save_all
        image.save(out, format="GIF")


def _root(root: Path | None) -> Path:
    if root is not None:
        return root
    settings = get_settings()
    return settings.evidence_dir or settings.var_dir / "evidence"


def _require_sha256(sha256: str) -> None:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError("not a SHA-256 in lowercase hex")


def _quarantine_path(sha256: str, root: Path | None) -> Path:
    _require_sha256(sha256)
    return _root(root) / _INCOMING / sha256


def _ensure_dir(path: Path) -> None:
    """Create ``path`` readable by this user only; a directory that exists already (the
    configured root, say) keeps the permissions its owner gave it."""
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        return
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mode 0o600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable: evidence must survive a power cut."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
