"""Identity fixtures: a clock the test moves, for the sign-in waits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.common.db import utcnow
from services.common.testing import FakeClock
from tests.support import Platform


@pytest.fixture
def clock(platform: Platform) -> Iterator[FakeClock]:
    """The identity app's clock for this test, standing still until the test advances it: a sign-in wait ends when
    the test says so, never by waiting in real time (which a loaded machine stretches). Sign-in waits are counted in
    it (``TokenService.clock``); tokens keep the real time."""
    app = platform.apps["identity"]
    real, fake = app.state.clock, FakeClock(start=utcnow())
    app.state.clock = fake
    try:
        yield fake
    finally:
        app.state.clock = real
