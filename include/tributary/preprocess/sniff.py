"""What a file is, from its first bytes rather than its name."""

from __future__ import annotations

# Leading magic bytes → mimetype. Containers that need a second look (RIFF, ISO BMFF,
# Matroska) are told apart in ``sniff_mimetype``.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"OggS", "application/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"fLaC", "audio/flac"),
)

_RIFF = {b"WEBP": "image/webp", b"AVI ": "video/x-msvideo", b"WAVE": "audio/wav"}

# ISO base media file format: the "ftyp" box's major brand.
_FTYP_BRANDS = {
    **dict.fromkeys((b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"), "image/heic"),
    **dict.fromkeys((b"mif1", b"msf1"), "image/heif"),
    b"avif": "image/avif",
    b"qt  ": "video/quicktime",
    **dict.fromkeys((b"3gp4", b"3gp5", b"3gp6", b"3g2a"), "video/3gpp"),
    b"M4A ": "audio/mp4",
}

OCTET_STREAM = "application/octet-stream"
EMPTY = "application/x-empty"


def sniff_mimetype(head: bytes) -> str:
    """The mimetype the content says, from at least its first few hundred bytes."""
    if not head:
        return EMPTY
    for magic, mimetype in _MAGIC:
        if head.startswith(magic):
            return mimetype
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], "video/mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if charset_of(head) is not None:
        return _text_kind(head)
    return OCTET_STREAM


def _text_kind(head: bytes) -> str:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    if start.startswith(b"<svg") or (start.startswith(b"<?xml") and b"<svg" in start):
        return "image/svg+xml"
    return "text/plain"


def charset_of(head: bytes) -> str | None:
    """``us-ascii`` or ``utf-8`` when the bytes read as text, else None (binary).

    ``head`` may be cut in the middle of a UTF-8 sequence: a partial last character counts.
    """
    if b"\x00" in head:
        return None
    if head.isascii():
        return "us-ascii"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3 or exc.reason != "unexpected end of data":
            return None
    return "utf-8"


def transfer_encoding(head: bytes) -> str:
    """MIME transfer encoding the content needs: ``7bit``, ``8bit`` (text) or ``binary``."""
    charset = charset_of(head)
    if charset == "us-ascii":
        return "7bit"
    return "8bit" if charset else "binary"


def is_textual(mimetype: str | None) -> bool:
    """Text-like types an extension may name more precisely than sniffing can (csv, json…)."""
    if not mimetype:
        return False
    return mimetype.startswith("text/") or mimetype in {
        "application/json",
        "application/xml",
        "application/x-yaml",
        "application/yaml",
        "application/javascript",
        "application/x-ndjson",
    }
