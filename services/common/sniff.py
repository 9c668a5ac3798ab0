"""Content type from the bytes, not from the client: magic numbers of the common types in the first bytes.

:func:`sniff` looks at the head of a file (:data:`SNIFF_BYTES` are enough for every type here) and names its
media type; :func:`contradicts` says whether a type the client declared cannot be that content (a PDF sent as
``video/mp4``). Zip-based formats (docx, pptx, xlsx, SCORM, H5P…) all start ``PK\\x03\\x04``: the head says
``application/zip``; telling them apart needs the zip's directory (see :func:`refine_zip`)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["OCTET_STREAM", "SNIFF_BYTES", "contradicts", "family", "refine_zip", "sniff"]

SNIFF_BYTES = 4096
OCTET_STREAM = "application/octet-stream"

_MP4_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A "}


def sniff(head: bytes) -> str:
    """The media type the bytes ``head`` (the first bytes of a file) show; ``application/octet-stream`` when
    nothing is recognised."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and len(head) >= 12:
        kind = head[8:12]
        if kind == b"WEBP":
            return "image/webp"
        if kind == b"WAVE":
            return "audio/wav"
        if kind == b"AVI ":
            return "video/x-msvideo"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska or WebM, the DocType says which
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _MP4_AUDIO_BRANDS:
            return "audio/mp4"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE6 == 0xE2):
        return "audio/mpeg"  # an ID3 tag, or an MPEG audio frame sync with layer III
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "application/zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "application/x-ole-storage"  # legacy .doc / .ppt / .xls
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    if head.startswith(b"Rar!\x1a\x07"):
        return "application/vnd.rar"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "application/x-7z-compressed"
    if head[:4] in (b"\x7fELF", b"MZ\x90\x00") or head[:2] == b"MZ":
        return "application/x-executable"
    text = _as_text(head)
    if text is not None:
        lowered = text.lstrip("\ufeff \t\r\n").lower()
        if lowered.startswith("<?xml"):
            return "image/svg+xml" if "<svg" in lowered[:1024] else "application/xml"
        if lowered.startswith(("<!doctype html", "<html")):
            return "text/html"
        if lowered.startswith("<svg"):
            return "image/svg+xml"
        return "text/plain"
    return OCTET_STREAM


def _as_text(head: bytes) -> str | None:
    if not head or b"\x00" in head:
        return None
    for cut in range(0, 4):  # a multi-byte character may be cut at the end of the head
        try:
            return head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def family(media_type: str) -> str:
    """``video/mp4`` → ``video``."""
    return media_type.split("/", 1)[0]


# what each detected type may be declared as (beyond itself and application/octet-stream)
_COMPATIBLE: dict[str, set[str]] = {
    "video/mp4": {"audio/mp4", "video/quicktime", "application/mp4", "video/x-m4v", "audio/x-m4a", "audio/m4a"},
    "audio/mp4": {"video/mp4", "application/mp4", "audio/x-m4a", "audio/m4a"},
    "video/quicktime": {"video/mp4"},
    "video/webm": {"audio/webm", "video/x-matroska"},
    "video/x-matroska": {"video/webm", "audio/x-matroska"},
    "audio/mpeg": {"audio/mp3", "audio/x-mp3", "audio/mpeg3", "audio/x-mpeg"},
    "audio/wav": {"audio/x-wav", "audio/wave", "audio/vnd.wave"},
    "audio/ogg": {"video/ogg", "application/ogg", "audio/opus"},
    "image/jpeg": {"image/jpg", "image/pjpeg"},
    "application/zip": {"application/x-zip-compressed", "application/x-zip", "multipart/x-zip"},
    "application/x-ole-storage": {"application/msword", "application/vnd.ms-powerpoint", "application/vnd.ms-excel"},
    "application/xml": {"text/xml"},
    "image/svg+xml": {"application/xml", "text/xml"},
}


def contradicts(declared: str | None, detected: str) -> bool:
    """True when the client's ``declared`` type cannot describe content sniffed as ``detected``. No declaration,
    ``application/octet-stream`` and a declaration equal to (or an alias of) the detected type are fine; a
    zip-based type (``…+zip``, OOXML, OpenDocument, H5P, SCORM) is fine for a zip; any ``text/*`` or JSON/CSV
    for plain text."""
    if not declared:
        return False
    declared = declared.split(";", 1)[0].strip().lower()
    if declared in ("", OCTET_STREAM, "binary/octet-stream"):
        return False
    if declared == detected or declared in _COMPATIBLE.get(detected, set()):
        return False
    if detected == "application/zip" and (
        declared.endswith("+zip")
        or declared.startswith(("application/vnd.openxmlformats-", "application/vnd.oasis.opendocument."))
        or declared in {"application/x-h5p", "application/h5p", "application/x-scorm", "application/epub+zip"}
    ):
        return False
    if detected == "text/plain" and (
        declared.startswith("text/") or declared in {"application/json", "application/xml", "application/csv"}
    ):
        return False
    return True


_OOXML = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def refine_zip(names: Iterable[str], mimetype_entry: bytes | None = None) -> str:
    """The format of a zip from its entry names (and the OpenDocument/EPUB ``mimetype`` entry if read): docx,
    pptx, xlsx, OpenDocument, EPUB, H5P, or plain zip. SCORM and cmi5 packages are plain zips here; their
    manifests are the package importer's business."""
    names = list(names)
    if mimetype_entry:
        value = mimetype_entry.decode("ascii", "replace").strip()
        if value.startswith(("application/vnd.oasis.opendocument.", "application/epub+zip")):
            return value
    if "[Content_Types].xml" in names:
        for prefix, media_type in _OOXML.items():
            if any(n.startswith(prefix) for n in names):
                return media_type
    if "h5p.json" in names:
        return "application/x-h5p"
    return "application/zip"
