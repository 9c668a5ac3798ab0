"""A clamd client speaking the INSTREAM protocol, fed while an upload streams.

    scanner = ClamdScanner("tcp://127.0.0.1:3310")
    scan = await scanner.open()
    async for chunk in upload:
        await scan.feed(chunk)
    verdict = await scan.finish()       # ScanVerdict(clean=False, signature="Eicar-Signature") …

INSTREAM (clamd(8)): send ``zINSTREAM\\0``, then chunks each prefixed by their length as a 4-byte big-endian
integer, then a zero length; clamd answers ``stream: OK`` or ``stream: <signature> FOUND`` (``\\0``-terminated
with the ``z`` prefix). clamd refuses streams longer than its ``StreamMaxLength`` (25 MiB by default): the client
stops sending at ``max_bytes`` and says the verdict covers only the beginning (``truncated=True``)."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass

from services.common.errors import ServiceUnavailable

__all__ = ["ClamdScanner", "ClamdStream", "ScanVerdict"]

#: clamd's own limit for one INSTREAM chunk is large; small chunks keep memory flat
CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class ScanVerdict:
    clean: bool
    signature: str | None = None
    #: the file was longer than the scanner's limit; only its first ``scanned_bytes`` were scanned
    truncated: bool = False
    scanned_bytes: int = 0


class ClamdScanner:
    """Where clamd listens: ``tcp://host:port``, ``host:port`` or ``unix:///path/clamd.ctl``."""

    def __init__(self, address: str, *, timeout: float = 60.0, max_bytes: int = 25 * 1024 * 1024 - 1024) -> None:
        self.address = address
        self.timeout = timeout
        self.max_bytes = max_bytes

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        address = self.address
        try:
            if address.startswith("unix://"):
                return await asyncio.wait_for(asyncio.open_unix_connection(address[len("unix://"):]), self.timeout)
            host, _, port = address.removeprefix("tcp://").rpartition(":")
            return await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), self.timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ServiceUnavailable("The virus scanner cannot be reached; try the upload again later.") from exc

    async def open(self) -> ClamdStream:
        reader, writer = await self._connect()
        writer.write(b"zINSTREAM\0")
        return ClamdStream(reader, writer, self.timeout, self.max_bytes)

    async def ping(self) -> bool:
        reader, writer = await self._connect()
        try:
            writer.write(b"zPING\0")
            await writer.drain()
            return (await asyncio.wait_for(reader.readuntil(b"\0"), self.timeout)).rstrip(b"\0") == b"PONG"
        finally:
            writer.close()


class ClamdStream:
    """One INSTREAM scan in progress."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float, max_bytes: int) -> None:
        self._reader, self._writer = reader, writer
        self._timeout = timeout
        self._max = max_bytes
        self.sent = 0
        self.truncated = False

    async def feed(self, data: bytes) -> None:
        if self.truncated or not data:
            return
        room = self._max - self.sent
        if len(data) > room:
            data, self.truncated = data[:room], True
        view = memoryview(data)
        try:
            for start in range(0, len(view), CHUNK):
                piece = view[start : start + CHUNK]
                self._writer.write(struct.pack(">I", len(piece)))
                self._writer.write(piece)
                await asyncio.wait_for(self._writer.drain(), self._timeout)
        except (OSError, TimeoutError) as exc:
            await self.abort()
            raise ServiceUnavailable("The virus scanner dropped the connection.") from exc
        self.sent += len(data)

    async def finish(self) -> ScanVerdict:
        try:
            self._writer.write(struct.pack(">I", 0))
            await asyncio.wait_for(self._writer.drain(), self._timeout)
            reply = await asyncio.wait_for(self._reader.readuntil(b"\0"), self._timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise ServiceUnavailable("The virus scanner did not answer.") from exc
        finally:
            await self.abort()
        text = reply.rstrip(b"\0").decode("utf-8", "replace").strip()
        _, _, result = text.partition(": ")
        if result == "OK":
            return ScanVerdict(True, None, self.truncated, self.sent)
        if result.endswith(" FOUND"):
            return ScanVerdict(False, result[: -len(" FOUND")], self.truncated, self.sent)
        raise ServiceUnavailable(f"The virus scanner could not scan the file ({text[:200]}).")

    async def abort(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
