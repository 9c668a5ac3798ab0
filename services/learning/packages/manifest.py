"""Reading SCORM 1.2 / 2004 ``imsmanifest.xml`` and cmi5 ``cmi5.xml`` course structures.

Only what a player and the catalogue need: organisations with their item trees and launch files (SCORM), the
course with its blocks and assignable units (cmi5). Every problem raises :class:`InvalidPackage` with a reason a
teacher can act on. DTDs are refused outright (no entity expansion, no external entities)."""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import unquote, urlsplit

from services.common.errors import ValidationFailed

MAX_MANIFEST_BYTES = 2 * 1024 * 1024


class InvalidPackage(ValidationFailed):
    title, slug = "Invalid package", "invalid-package"

    def __init__(self, reason: str, field: str = "file") -> None:
        super().__init__(reason, errors=[{"field": field, "message": reason}])


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(node: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in node if _local(c.tag) == name]


def _child(node: ET.Element, name: str) -> ET.Element | None:
    found = _children(node, name)
    return found[0] if found else None


def _descendant(node: ET.Element | None, *names: str) -> ET.Element | None:
    for name in names:
        if node is None:
            return None
        node = _child(node, name)
    return node


def _attr(node: ET.Element, name: str) -> str | None:
    """An attribute by local name, whatever its namespace (``adlcp:scormtype`` / ``adlcp:scormType``)."""
    for key, value in node.attrib.items():
        if _local(key).lower() == name.lower():
            return value
    return None


def _text(node: ET.Element | None) -> str:
    return (node.text or "").strip() if node is not None else ""


def parse_xml(raw: bytes, filename: str) -> ET.Element:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise InvalidPackage(f"{filename} is larger than {MAX_MANIFEST_BYTES // (1024 * 1024)} MiB")
    if re.search(rb"<!DOCTYPE|<!ENTITY", raw[:65536], re.IGNORECASE):
        raise InvalidPackage(f"{filename} declares a DTD or entities, which are not accepted")
    try:
        return ET.fromstring(raw)
    except ET.ParseError as exc:
        raise InvalidPackage(f"{filename} is not well-formed XML: {exc}") from None


def resolve_href(base: str, href: str, names: set[str], where: str) -> str:
    """A launch reference inside the package → the zip entry it names; refused if it leaves the package or
    names no file."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc:
        raise InvalidPackage(f"{where} launches {href!r}, which is outside the package")
    path = posixpath.normpath(posixpath.join(base, unquote(parts.path))) if parts.path else ""
    if not path or path.startswith(("../", "/")) or path == "..":
        raise InvalidPackage(f"{where} launches {href!r}, which is outside the package")
    if path not in names:
        raise InvalidPackage(f"{where} launches {path!r}, which is not in the package")
    return path + (f"?{parts.query}" if parts.query else "")


def parse_scorm(raw: bytes, names: set[str]) -> tuple[str, dict[str, Any], str]:
    """``imsmanifest.xml`` → (kind ``scorm12`` | ``scorm2004``, manifest summary, launch path of the first
    launchable item of the default organisation)."""
    root = parse_xml(raw, "imsmanifest.xml")
    if _local(root.tag) != "manifest":
        raise InvalidPackage("imsmanifest.xml: the root element must be <manifest>")
    schema_version = _text(_descendant(root, "metadata", "schemaversion"))
    if "adlcp_rootv1p2" in raw.decode("utf-8", "replace") or schema_version == "1.2":
        kind = "scorm12"
    elif "adlcp_v1p3" in raw.decode("utf-8", "replace") or "2004" in schema_version or "1.3" in schema_version:
        kind = "scorm2004"
    else:
        raise InvalidPackage(
            "imsmanifest.xml names neither SCORM 1.2 nor SCORM 2004 (no adlcp namespace or schemaversion)"
        )
    resources: dict[str, dict[str, Any]] = {}
    resources_node = _child(root, "resources")
    if resources_node is None:
        raise InvalidPackage("imsmanifest.xml has no <resources>")
    base_all = _attr(resources_node, "base") or ""
    for res in _children(resources_node, "resource"):
        identifier = _attr(res, "identifier")
        if not identifier:
            raise InvalidPackage("imsmanifest.xml: a <resource> has no identifier")
        base = posixpath.join(base_all, _attr(res, "base") or "")
        href = _attr(res, "href")
        resources[identifier] = {
            "identifier": identifier,
            "scorm_type": (_attr(res, "scormtype") or "").lower() or None,
            "href": resolve_href(base, href, names, f"resource {identifier}") if href else None,
        }
    orgs_node = _child(root, "organizations")
    organisations = _children(orgs_node, "organization") if orgs_node is not None else []
    if not organisations:
        raise InvalidPackage("imsmanifest.xml has no <organization>")
    default = _attr(orgs_node, "default") if orgs_node is not None else None
    if default and default not in {_attr(o, "identifier") for o in organisations}:
        raise InvalidPackage(f"imsmanifest.xml: the default organisation {default!r} does not exist")

    def item(node: ET.Element) -> dict[str, Any]:
        identifier = _attr(node, "identifier") or ""
        ref = _attr(node, "identifierref")
        launch = None
        if ref:
            if ref not in resources:
                raise InvalidPackage(f"item {identifier!r} refers to resource {ref!r}, which does not exist")
            launch = resources[ref]["href"]
            params = _attr(node, "parameters")
            if launch and params:
                launch += ("&" if "?" in launch else "?") + params.lstrip("?&")
        return {
            "identifier": identifier,
            "title": _text(_child(node, "title")),
            "launch": launch,
            "visible": (_attr(node, "isvisible") or "true").lower() != "false",
            "items": [item(c) for c in _children(node, "item")],
        }

    orgs: list[dict[str, Any]] = [
        {"identifier": _attr(o, "identifier"), "title": _text(_child(o, "title")), "items": [item(c) for c in _children(o, "item")]}
        for o in organisations
    ]
    chosen = next((o for o in orgs if o["identifier"] == default), orgs[0])

    def first_launch(items: list[dict[str, Any]]) -> str | None:
        for it in items:
            if it["launch"]:
                return it["launch"]
            found = first_launch(it["items"])
            if found:
                return found
        return None

    launch = first_launch(chosen["items"])
    if not launch:
        raise InvalidPackage("imsmanifest.xml: the default organisation has no item that launches a file")
    title = chosen["title"] or _text(_descendant(root, "metadata", "title"))
    summary = {"title": title, "schema_version": schema_version or None, "default_organisation": chosen["identifier"],
               "organisations": orgs, "resources": len(resources)}
    return kind, summary, launch


def parse_cmi5(raw: bytes, names: set[str]) -> tuple[dict[str, Any], str]:
    """``cmi5.xml`` → (course structure summary, launch path of the first AU inside the package)."""
    root = parse_xml(raw, "cmi5.xml")
    if _local(root.tag) != "courseStructure":
        raise InvalidPackage("cmi5.xml: the root element must be <courseStructure>")
    course = _child(root, "course")
    if course is None or not _attr(course, "id"):
        raise InvalidPackage("cmi5.xml: <course> with an id is required")

    def langstring(node: ET.Element | None) -> str:
        if node is None:
            return ""
        strings = _children(node, "langstring")
        preferred = next((s for s in strings if (_attr(s, "lang") or "").startswith("vi")), strings[0] if strings else None)
        return _text(preferred)

    launches: list[str] = []

    def au(node: ET.Element) -> dict[str, Any]:
        identifier = _attr(node, "id")
        url = _text(_child(node, "url"))
        if not identifier or not url:
            raise InvalidPackage("cmi5.xml: every <au> needs an id and a <url>")
        parts = urlsplit(url)
        if parts.scheme in ("http", "https"):
            launch = url  # an AU hosted elsewhere
        else:
            launch = resolve_href("", url, names, f"AU {identifier}")
            launches.append(launch)
        mastery = _attr(node, "masteryScore")
        return {
            "type": "au", "id": identifier, "title": langstring(_child(node, "title")), "launch": launch,
            "move_on": _attr(node, "moveOn") or "NotApplicable", "launch_method": _attr(node, "launchMethod") or "AnyWindow",
            "mastery_score": float(mastery) if mastery else None,
            "launch_parameters": _text(_child(node, "launchParameters")) or None,
        }

    def block(node: ET.Element) -> dict[str, Any]:
        if not _attr(node, "id"):
            raise InvalidPackage("cmi5.xml: every <block> needs an id")
        return {"type": "block", "id": _attr(node, "id"), "title": langstring(_child(node, "title")), "children": children(node)}

    def children(node: ET.Element) -> list[dict[str, Any]]:
        out = []
        for c in node:
            if _local(c.tag) == "au":
                out.append(au(c))
            elif _local(c.tag) == "block":
                out.append(block(c))
        return out

    structure = children(root)
    if not any(True for _ in root.iter() if _local(_.tag) == "au"):
        raise InvalidPackage("cmi5.xml has no assignable unit (<au>)")
    if not launches:
        raise InvalidPackage("cmi5.xml: no assignable unit is launched from inside the package")
    summary = {"course_id": _attr(course, "id"), "title": langstring(_child(course, "title")), "structure": structure}
    return summary, launches[0]
