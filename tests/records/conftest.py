"""Every records test that runs the platform runs under the write-transaction guard: records never calls another
service (identity, credentials) while a write transaction of its own is open (``no_calls_in_write_transactions``)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_calls_in_write_transactions(request: pytest.FixtureRequest) -> None:
    if "platform" in request.fixturenames:
        request.getfixturevalue("no_calls_in_write_transactions")
