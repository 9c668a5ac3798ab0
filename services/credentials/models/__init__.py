"""Credentials's ORM models; every table is imported here so Alembic sees it."""

from sqlalchemy.orm import DeclarativeBase

from services.common.db import TYPE_ANNOTATION_MAP


class Base(DeclarativeBase):
    type_annotation_map = TYPE_ANNOTATION_MAP


from services.credentials.models.credential import Credential, StatusChange  # noqa: E402
from services.credentials.models.issue_job import IssueJob, IssueJobItem  # noqa: E402
from services.credentials.models.issuer import Issuer, IssuerKey, RegisterCounter  # noqa: E402
from services.credentials.models.share_link import ShareLink  # noqa: E402
from services.credentials.models.status_list import StatusList  # noqa: E402
from services.credentials.models.verification import VerificationLog  # noqa: E402

__all__ = [
    "Base", "Credential", "IssueJob", "IssueJobItem", "Issuer", "IssuerKey", "RegisterCounter", "StatusChange",
    "ShareLink", "StatusList", "VerificationLog",
]
