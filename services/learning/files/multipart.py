"""A ``multipart/form-data`` body read as a stream: the file part's bytes are handed on as they arrive, never
collected (FastAPI's ``UploadFile`` would spool the whole file to a temporary file first)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from services.common.errors import BadRequest, ValidationFailed

MAX_FIELD_BYTES = 64 * 1024


@dataclass
class FilePart:
    filename: str | None
    content_type: str | None
    #: the plain form fields that came before the file part
    fields: dict[str, str]
    chunks: AsyncIterator[bytes] = field(repr=False)


async def file_part(request: Request, name: str = "file") -> FilePart:
    """Read the body up to the start of the file field ``name``; the returned ``chunks`` stream its bytes."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise BadRequest("Send multipart/form-data with a boundary, or the raw file with PUT.")

    events: list[tuple[str, object]] = []
    headers: dict[bytes, bytes] = {}
    current = {"field": b"", "value": b""}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        current["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        current["value"] += data[start:end]

    def on_header_end() -> None:
        headers[current["field"].strip().lower()] = current["value"].strip()
        current["field"], current["value"] = b"", b""

    def on_headers_finished() -> None:
        events.append(("headers", dict(headers)))
        headers.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        events.append(("data", bytes(data[start:end])))

    def on_part_end() -> None:
        events.append(("end", None))

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished, "on_part_data": on_part_data, "on_part_end": on_part_end,
        },
    )
    source = request.stream().__aiter__()

    async def next_events() -> bool:
        try:
            chunk = await source.__anext__()
        except StopAsyncIteration:
            parser.finalize()
            return False
        parser.write(chunk)
        return True

    fields: dict[str, str] = {}
    value = bytearray()
    in_field: str | None = None
    while True:
        while events:
            kind, payload = events.pop(0)
            if kind == "headers":
                assert isinstance(payload, dict)
                _, disposition = parse_options_header(payload.get(b"content-disposition", b""))
                field_name = disposition.get(b"name", b"").decode("utf-8", "replace")
                if field_name == name:
                    filename = disposition.get(b"filename")
                    part_type = payload.get(b"content-type")
                    return FilePart(
                        filename.decode("utf-8", "replace") if filename is not None else None,
                        part_type.decode("latin-1") if part_type else None,
                        fields,
                        _file_chunks(events, next_events),
                    )
                in_field = field_name
                value.clear()
            elif kind == "data" and in_field is not None:
                value += cast(bytes, payload)
                if len(value) > MAX_FIELD_BYTES:
                    raise ValidationFailed("A form field is too long.", errors=[{"field": in_field, "message": "too long"}])
            elif kind == "end" and in_field is not None:
                fields[in_field] = value.decode("utf-8", "replace")
                in_field = None
        if not await next_events():
            raise ValidationFailed(f"The form has no {name!r} file field.", errors=[{"field": name, "message": "required"}])


async def _file_chunks(events: list[tuple[str, object]], more: object) -> AsyncIterator[bytes]:
    while True:
        while events:
            kind, payload = events.pop(0)
            if kind == "data":
                if payload:
                    yield payload  # type: ignore[misc]
            elif kind == "end":
                return
            else:  # another part began without this one ending
                return
        if not await more():  # type: ignore[operator]
            raise BadRequest("The form ended inside the file field.")
