"""Identity's ORM models; every table is imported here so Alembic sees it."""

from sqlalchemy.orm import DeclarativeBase

from services.common.db import TYPE_ANNOTATION_MAP


class Base(DeclarativeBase):
    type_annotation_map = TYPE_ANNOTATION_MAP


from services.identity.models.account import Account, Membership  # noqa: E402
from services.identity.models.api_client import ApiClient  # noqa: E402
from services.identity.models.audit import AuditEvent  # noqa: E402
from services.identity.models.institution import Institution  # noqa: E402
from services.identity.models.person import Person  # noqa: E402
from services.identity.models.session import LoginThrottle, OidcAuthRequest, RefreshToken  # noqa: E402
from services.identity.models.signing_key import SigningKey  # noqa: E402
from services.identity.models.staff_count import StaffCount  # noqa: E402

__all__ = [
    "Account", "ApiClient", "AuditEvent", "Base", "Institution", "LoginThrottle", "Membership", "OidcAuthRequest",
    "Person", "RefreshToken", "SigningKey", "StaffCount",
]
