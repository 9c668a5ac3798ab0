"""Which files a learning object of each type may carry (decided on the sniffed type, never the declared one)."""

from __future__ import annotations

from services.common.errors import AppError
from services.learning.packages.manifest import InvalidPackage

DOCUMENT_TYPES = {
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.oasis.opendocument.text",
    "application/epub+zip",
    "application/x-ole-storage",
    "text/plain",
}
SLIDES_TYPES = {
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.presentation",
    "application/x-ole-storage",
}
NEVER = {"application/x-executable"}


class UnsupportedMediaType(AppError):
    status, title, slug = 415, "Unsupported media type", "unsupported-media-type"


def accepts(object_type: str, media_type: str, package_kind: str | None = None) -> bool:
    if media_type in NEVER:
        return False
    match object_type:
        case "video" | "audio" | "image":
            return media_type.startswith(object_type + "/")
        case "document":
            return media_type in DOCUMENT_TYPES
        case "slides":
            return media_type in SLIDES_TYPES
        case "scorm":
            return package_kind in ("scorm12", "scorm2004")
        case "cmi5":
            return package_kind == "cmi5"
        case "h5p":
            return media_type == "application/x-h5p"
        case "link":
            return False
        case _:
            return True


def ensure_accepts(object_type: str, media_type: str, package_kind: str | None = None) -> None:
    if not accepts(object_type, media_type, package_kind):
        if object_type in ("scorm", "cmi5") and media_type == "application/zip":
            manifest = "imsmanifest.xml" if object_type == "scorm" else "cmi5.xml"
            raise InvalidPackage(f"A {object_type} learning object needs a {object_type} package ({manifest} at the top of the zip).")
        if object_type == "link":
            raise UnsupportedMediaType("A link carries no file.")
        raise UnsupportedMediaType(
            f"The file is {media_type} (detected from its bytes), which a learning object of type "
            f"{object_type!r} cannot carry.", detected_type=media_type,
        )


def may_be(object_type: str, media_type: str) -> bool:
    """Early check on the first bytes, before the zip's contents are known."""
    if media_type == "application/zip":
        return object_type in {"document", "slides", "scorm", "cmi5", "h5p", "other"}
    return accepts(object_type, media_type)
