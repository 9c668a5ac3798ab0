"""Zips uploaded to the library: what they are (docx, pptx, H5P, SCORM, cmi5 …), whether they are safe, and for
SCORM / cmi5 packages the manifest read and the files unpacked into the store so a player can launch them.

Refused: more entries or more expanded bytes than the limits, an entry compressed more than ``max_ratio`` times
(zip bombs), names that leave the package (``../``, absolute paths, drive letters, backslashes), a package whose
manifest is missing or wrong. Entries are unpacked with their real size counted, so a header that understates
an entry's size cannot smuggle in more."""

from __future__ import annotations

import asyncio
import mimetypes
import re
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.sniff import refine_zip
from services.common.storage import ObjectStore
from services.learning.packages.manifest import InvalidPackage, parse_cmi5, parse_scorm

READ_BLOCK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ZipLimits:
    max_entries: int
    max_expanded_bytes: int
    max_ratio: int


@dataclass
class ZipReport:
    media_type: str
    names: list[str]
    #: for packages: scorm12 | scorm2004 | cmi5
    package_kind: str | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    launch_path: str | None = None
    expanded_bytes: int = 0


def _unsafe_name(name: str) -> str | None:
    if "\x00" in name or "\\" in name:
        return "contains a backslash or NUL"
    if name.startswith("/") or _DRIVE.match(name):
        return "is an absolute path"
    if any(segment == ".." for segment in name.split("/")):
        return "leaves the package (..)"
    return None


def inspect_zip(path: Path, limits: ZipLimits, *, expect_package: str | None) -> ZipReport:
    """Runs in a worker thread. ``expect_package``: ``scorm`` or ``cmi5`` when the object is one (then the
    manifest must be there and valid), else None (a package is still recognised, just not required)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidPackage(f"the file is not a readable zip archive ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise InvalidPackage(f"the archive has {len(infos)} entries; at most {limits.max_entries} are accepted")
        expanded = 0
        for info in infos:
            problem = _unsafe_name(info.filename)
            if problem:
                raise InvalidPackage(f"the archive entry {info.filename!r} {problem}")
            expanded += info.file_size
            if info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise InvalidPackage(
                    f"the archive entry {info.filename!r} expands {info.file_size // max(info.compress_size, 1)} times; "
                    f"at most {limits.max_ratio} is accepted (zip bomb)"
                )
        if expanded > limits.max_expanded_bytes:
            raise InvalidPackage(
                f"the archive expands to {expanded} bytes; at most {limits.max_expanded_bytes} are accepted"
            )
        names = [i.filename for i in infos if not i.is_dir()]
        name_set = set(names)
        mimetype = None
        if "mimetype" in name_set and archive.getinfo("mimetype").file_size < 200:
            mimetype = archive.read("mimetype")
        report = ZipReport(refine_zip(names, mimetype), names, expanded_bytes=expanded)

        def read(name: str) -> bytes:
            info = archive.getinfo(name)
            if info.file_size > 2 * 1024 * 1024:
                raise InvalidPackage(f"{name} is larger than 2 MiB")
            try:
                return archive.read(name)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise InvalidPackage(f"{name} cannot be read from the archive ({exc})") from None

        if expect_package == "scorm" or (expect_package is None and "imsmanifest.xml" in name_set):
            if "imsmanifest.xml" not in name_set:
                raise InvalidPackage("a SCORM package needs imsmanifest.xml at the top of the zip")
            report.package_kind, report.manifest, report.launch_path = parse_scorm(read("imsmanifest.xml"), name_set)
        elif expect_package == "cmi5" or (expect_package is None and "cmi5.xml" in name_set):
            if "cmi5.xml" not in name_set:
                raise InvalidPackage("a cmi5 package needs cmi5.xml at the top of the zip")
            report.manifest, report.launch_path = parse_cmi5(read("cmi5.xml"), name_set)
            report.package_kind = "cmi5"
        return report


def _skipped(name: str) -> bool:
    """Hidden files and macOS resource forks are not unpacked (object keys may not start with a dot)."""
    return any(segment.startswith(".") for segment in name.split("/")) or name.startswith("__MACOSX/")


async def unpack(store: ObjectStore, path: Path, prefix: str, limits: ZipLimits) -> int:
    """Put every file of the zip at ``path`` into the store under ``prefix/``; returns the number of files."""
    archive = await asyncio.to_thread(zipfile.ZipFile, path)
    count, total = 0, 0
    try:
        for info in archive.infolist():
            if info.is_dir() or _skipped(info.filename):
                continue
            member = await asyncio.to_thread(archive.open, info)

            async def blocks(member: Any = member, info: zipfile.ZipInfo = info) -> AsyncIterator[bytes]:
                nonlocal total
                seen = 0
                try:
                    while block := await asyncio.to_thread(member.read, READ_BLOCK):
                        seen += len(block)
                        total += len(block)
                        if seen > info.file_size or total > limits.max_expanded_bytes:
                            raise InvalidPackage(f"the archive entry {info.filename!r} is larger than its header says")
                        yield block
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    raise InvalidPackage(f"the archive entry {info.filename!r} is damaged ({exc})") from None
                finally:
                    member.close()

            content_type = mimetypes.guess_type(info.filename)[0] or "application/octet-stream"
            await store.put(f"{prefix}/{info.filename}", blocks(), content_type=content_type)
            count += 1
    finally:
        archive.close()
    return count
