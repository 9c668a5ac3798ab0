"""Signing many credentials off the event loop: in worker processes when configured (CPU-bound RDF
canonicalisation scales with cores), else in a thread so the loop keeps serving requests."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.credentials.proofs import dataintegrity


def sign_documents(raw_private_key: bytes, verification_method: str, created: datetime, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    key = Ed25519PrivateKey.from_private_bytes(raw_private_key)
    return [dataintegrity.sign(doc, key, verification_method, created=created) for doc in documents]


class BatchSigner:
    def __init__(self, processes: int = 0) -> None:
        self.processes = processes
        self._pool: Executor | None = None

    def _executor(self) -> Executor | None:
        if self.processes <= 0:
            return None
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    async def sign(self, raw_private_key: bytes, verification_method: str, created: datetime, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not documents:
            return []
        pool = self._executor()
        if pool is None:
            return await asyncio.to_thread(sign_documents, raw_private_key, verification_method, created, documents)
        loop = asyncio.get_running_loop()
        size = max(1, -(-len(documents) // self.processes))
        parts = [documents[i : i + size] for i in range(0, len(documents), size)]
        results = await asyncio.gather(
            *(loop.run_in_executor(pool, sign_documents, raw_private_key, verification_method, created, part) for part in parts)
        )
        return [doc for part in results for doc in part]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
