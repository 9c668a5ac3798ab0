from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity, utcnow
from services.identity.models import Base


class RefreshToken(Base):
    """One refresh token of a sign-in session (its family). Using it rotates it; using a rotated one again means
    it was stolen, and the whole family is revoked. Only a SHA-256 of the token is stored."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    rotated_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_reason: Mapped[str | None] = mapped_column(String(100))


class LoginThrottle(Base):
    """Failed sign-ins (or client-secret guesses) per key — an account+address pair, an address, an account — and
    the wait they imposed; see ``accounts/throttle.py``."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    last_failure_at: Mapped[datetime | None] = mapped_column()
    #: a pair's last successful sign-in: the account signs in from this address (its waits do not hold here)
    last_success_at: Mapped[datetime | None] = mapped_column()


class OidcAuthRequest(Entity, Base):
    """A sign-in through the upstream provider (VNeID): ``state`` finds it once at the callback, which must come
    from the browser that started it (``binding_hash``: SHA-256 of that browser's HttpOnly cookie). The callback
    leaves a one-time code (``code_hash``) for the account signed in, which that same browser's front end exchanges
    once for the tokens."""

    __tablename__ = "oidc_auth_requests"

    state: Mapped[str] = mapped_column(String(100), unique=True)
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(200))
    return_to: Mapped[str | None] = mapped_column(String(2000))
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    binding_hash: Mapped[str | None] = mapped_column(String(64))
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    code_expires_at: Mapped[datetime | None] = mapped_column()
    code_used_at: Mapped[datetime | None] = mapped_column()
