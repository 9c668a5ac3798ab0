"""Fixtures of the gateway attack tests (``*_gateway.py``): signing keys, and the stand-in upstream served on a
real socket, counting the requests that reach it (:mod:`tests.security.gateway_rig` holds the helpers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.conftest import ServerThread, SigningKeys, make_upstream
from tests.security.gateway_rig import CountingUpstream


@pytest.fixture(scope="module")
def keys() -> SigningKeys:
    return SigningKeys()


@pytest.fixture(scope="module")
def counted(keys: SigningKeys) -> CountingUpstream:
    return CountingUpstream(make_upstream(keys.jwks))


@pytest.fixture(scope="module")
def upstream(counted: CountingUpstream) -> Iterator[ServerThread]:
    with ServerThread(counted) as server:
        yield server
