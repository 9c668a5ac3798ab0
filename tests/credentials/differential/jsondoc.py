"""JSON documents addressed by paths — a path is a list of object keys (str) and array indexes (int), so keys that
are full IRIs (``https://www.w3.org/2018/credentials#credentialSubject``) need no escaping — the simple operations
the regression recipes are written in, and a short diff of two documents for failure messages."""

from __future__ import annotations

import copy
import json
import unicodedata
from collections.abc import Iterator
from typing import Any

Path = list[str | int]


class RecipeError(Exception):
    """An operation does not fit the document (a path that is not there): the recipe needs updating."""


def render(path: Path) -> str:
    """``$.credentialSubject.name``, ``$.credentialStatus[0]``, ``$["https://…#x"]``."""
    out = "$"
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif step.isidentifier():
            out += f".{step}"
        else:
            out += f"[{json.dumps(step, ensure_ascii=False)}]"
    return out


def walk(value: Any, path: Path | None = None) -> Iterator[tuple[Path, Any]]:
    """Every (path, value) of a document, the root first, depth first in document order."""
    path = path or []
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from walk(child, [*path, key])
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from walk(child, [*path, i])


def get(doc: Any, path: Path) -> Any:
    node = doc
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            raise RecipeError(f"{render(path)}: no {step!r} here") from None
    return node


def _parent(doc: Any, path: Path) -> tuple[Any, str | int]:
    if not path:
        raise RecipeError("the root cannot be replaced by an operation")
    parent = get(doc, path[:-1])
    step = path[-1]
    if isinstance(step, int) and not isinstance(parent, list) or isinstance(step, str) and not isinstance(parent, dict):
        raise RecipeError(f"{render(path)}: the parent is a {type(parent).__name__}")
    return parent, step


def set_(doc: Any, path: Path, value: Any) -> None:
    """Sets a key (added at the end when new) or an existing array item (or appends at index len)."""
    parent, step = _parent(doc, path)
    if isinstance(step, int):
        if step == len(parent):
            parent.append(value)
        elif 0 <= step < len(parent):
            parent[step] = value
        else:
            raise RecipeError(f"{render(path)}: index out of range")
    else:
        parent[step] = value


def insert(doc: Any, path: Path, value: Any) -> None:
    """Inserts before an array index; for an object key, like :func:`set_`."""
    parent, step = _parent(doc, path)
    if isinstance(step, int):
        if not 0 <= step <= len(parent):
            raise RecipeError(f"{render(path)}: index out of range")
        parent.insert(step, value)
    else:
        parent[step] = value


def delete(doc: Any, path: Path) -> Any:
    parent, step = _parent(doc, path)
    try:
        return parent.pop(step)
    except (KeyError, IndexError):
        raise RecipeError(f"{render(path)}: not there") from None


def rename(doc: Any, path: Path, to: str) -> None:
    """Renames a key in place (its position among its siblings kept)."""
    parent, step = _parent(doc, path)
    if not isinstance(step, str) or step not in parent:
        raise RecipeError(f"{render(path)}: no such key to rename")
    items = [(to if k == step else k, v) for k, v in parent.items()]
    parent.clear()
    parent.update(items)


def _fill(template: Any, value: Any) -> Any:
    if template == "$value":
        return copy.deepcopy(value)
    if isinstance(template, dict):
        return {k: _fill(v, value) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, value) for v in template]
    return template


def _resolve(value: Any, sources: dict[str, Any]) -> Any:
    """``{"$from": path, "doc": name}`` → a copy of that value of a source document (``doc`` defaults to the
    credential the recipe starts from, as issued)."""
    if isinstance(value, dict):
        if set(value) <= {"$from", "doc"} and "$from" in value:
            name = value.get("doc", "self")
            if name not in sources:
                raise RecipeError(f"no source document {name!r}")
            return copy.deepcopy(get(sources[name], value["$from"]))
        return {k: _resolve(v, sources) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, sources) for v in value]
    return value


def apply(doc: Any, ops: list[dict[str, Any]], sources: dict[str, Any] | None = None) -> Any:
    """A changed copy of ``doc``. Operations:

    * ``{"op": "set", "path": P, "value": V}`` — set a key or array item
    * ``{"op": "insert", "path": P, "value": V}`` — insert before an array index
    * ``{"op": "delete", "path": P}``
    * ``{"op": "move", "from": P, "path": Q}`` / ``{"op": "copy", "from": P, "path": Q}`` — Q inserted like insert
    * ``{"op": "rename", "path": P, "to": "newKey"}`` — same position among siblings
    * ``{"op": "wrap", "path": P, "with": T}`` — T with the string ``"$value"`` replaced by the current value
    * ``{"op": "listify", "path": P}`` — a value that is not an array becomes a one-item array (same JSON-LD)

    A value may be ``{"$from": P}`` (a copy of the issued credential's value at P) or ``{"$from": P, "doc":
    "companion"}`` (of another genuine credential)."""
    sources = {"self": doc} | (sources or {})
    out = copy.deepcopy(doc)
    for op in ops:
        kind = op.get("op")
        if kind == "set":
            set_(out, op["path"], _resolve(op["value"], sources))
        elif kind == "insert":
            insert(out, op["path"], _resolve(op["value"], sources))
        elif kind == "delete":
            delete(out, op["path"])
        elif kind in ("move", "copy"):
            value = delete(out, op["from"]) if kind == "move" else copy.deepcopy(get(out, op["from"]))
            insert(out, op["path"], value)
        elif kind == "rename":
            rename(out, op["path"], op["to"])
        elif kind == "wrap":
            set_(out, op["path"], _fill(_resolve(op["with"], sources), get(out, op["path"])))
        elif kind == "listify":
            value = get(out, op["path"])
            if not isinstance(value, list):
                set_(out, op["path"], [value])
        else:
            raise RecipeError(f"unknown operation {kind!r}")
    return out


def visible(text: str) -> str:
    """Text with invisible, control, formatting (bidi), surrogate and non-ASCII space characters as ``\\uXXXX``."""
    return "".join(
        c if c == " " or unicodedata.category(c)[0] not in "CZ" else f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"
        for c in text)


def _short(value: Any, limit: int = 160) -> str:
    text = visible(json.dumps(value, ensure_ascii=False))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def diff(before: Any, after: Any, path: Path | None = None) -> list[str]:
    """The smallest changes that turn ``before`` into ``after``, one line each (``-`` removed, ``+`` added, ``~``
    changed, ``↕`` same keys in another order)."""
    path = path or []
    if type(before) is not type(after):
        return [f"~ {render(path)}: {_short(before)} → {_short(after)}"]
    if isinstance(before, dict):
        lines: list[str] = []
        for key in before:
            if key not in after:
                lines.append(f"- {render([*path, key])}: {_short(before[key])}")
        for key in after:
            if key not in before:
                lines.append(f"+ {render([*path, key])}: {_short(after[key])}")
            else:
                lines.extend(diff(before[key], after[key], [*path, key]))
        if not lines and list(before) != list(after):
            lines.append(f"↕ {render(path)}: keys reordered to {_short(list(after))}")
        return lines
    if isinstance(before, list):
        if len(before) == len(after):
            return [line for i, (b, a) in enumerate(zip(before, after, strict=True)) for line in diff(b, a, [*path, i])]
        return [f"~ {render(path)}: {len(before)} items → {len(after)} items: {_short(after, 400)}"]
    if before != after:
        return [f"~ {render(path)}: {_short(before)} → {_short(after)}"]
    return []
