"""LTI over HTTP: platform registrations, the tool's configuration, launch sessions, deep-linking choices, scores."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.learning.assessment.exams.schemas import ExamRead, MyResult

#: no control characters (PostgreSQL text cannot hold U+0000; none belongs in an identifier, URL or name)
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Text = Annotated[str, StringConstraints(pattern=_PRINTABLE)]
_ID = Field(min_length=1, max_length=255)


def _check_deployments(values: list[str]) -> list[str]:
    if any(not v or len(v) > 255 or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in v) for v in values):
        raise ValueError("each deployment id is 1 to 255 characters, none a control character")
    if len(set(values)) != len(values):
        raise ValueError("a deployment id is listed twice")
    return values


class JwkSet(BaseModel):
    """A JWK Set (RFC 7517 §5) of RSA public keys."""

    model_config = ConfigDict(extra="ignore")

    keys: list[dict[str, Any]] = Field(min_length=1, max_length=20)

    @field_validator("keys")
    @classmethod
    def _rsa(cls, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if re.search(r"\\u00[01][0-9a-f]|\\u007f", json.dumps(keys)):
            raise ValueError("a key holds a control character")
        for key in keys:
            if key.get("kty") != "RSA" or not isinstance(key.get("n"), str) or not isinstance(key.get("e"), str):
                raise ValueError("every key is an RSA public key (kty RSA, n, e)")
            if "d" in key or "p" in key:
                raise ValueError("give public keys only (a key here holds private parts)")
            if key.get("alg", "RS256") != "RS256":
                raise ValueError("LTI 1.3 keys sign with RS256")
        return keys


class PlatformCreate(BaseModel):
    """What a platform's administrator sees on its side of the registration (Moodle: *Platform ID*, *Client ID*,
    *Deployment ID*, *Public keyset URL*, *Authentication request URL*, *Access token URL*)."""

    name: Text = Field(min_length=1, max_length=200)
    issuer: Text = Field(min_length=1, max_length=255, description="the platform's issuer (Moodle: its Platform ID, the site URL)")
    client_id: Text = _ID
    deployment_ids: list[str] = Field(min_length=1, max_length=100)
    jwks_url: Text | None = Field(default=None, max_length=2000)
    jwks: JwkSet | None = None
    auth_login_url: Text = Field(max_length=2000, description="the platform's OIDC authentication request URL")
    token_url: Text | None = Field(default=None, max_length=2000, description="OAuth2 access token URL (for grade pass-back)")
    token_audience: Text | None = Field(default=None, max_length=2000)
    institution_code: Text | None = Field(default=None, max_length=20, description="the school; leave out for a national registration")

    @field_validator("deployment_ids")
    @classmethod
    def _deployments(cls, values: list[str]) -> list[str]:
        return _check_deployments(values)


class PlatformUpdate(BaseModel):
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    deployment_ids: list[str] | None = Field(default=None, min_length=1, max_length=100)
    jwks_url: Text | None = Field(default=None, max_length=2000)
    jwks: JwkSet | None = None
    auth_login_url: Text | None = Field(default=None, max_length=2000)
    token_url: Text | None = Field(default=None, max_length=2000)
    token_audience: Text | None = Field(default=None, max_length=2000)
    active: bool | None = None

    @field_validator("deployment_ids")
    @classmethod
    def _deployments(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else _check_deployments(values)


class PlatformRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    issuer: str
    client_id: str
    deployment_ids: list[str]
    jwks_url: str | None
    jwks: dict[str, Any] | None
    auth_login_url: str
    token_url: str | None
    token_audience: str | None
    institution_code: str | None
    active: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


class ToolConfiguration(BaseModel):
    """What a platform's administrator pastes into the platform (Moodle: *Site administration → Plugins → External
    tool → Manage tools → configure a tool manually*, LTI version 1.3)."""

    tool_url: str
    initiate_login_url: str
    redirection_uris: list[str]
    jwks_url: str
    deep_linking_url: str
    target_link_uri_format: str
    custom_parameter: str
    scopes: list[str]
    signing_algorithm: str


class TargetRead(BaseModel):
    kind: str
    id: str
    title: str
    text: str | None = None


class SessionUser(BaseModel):
    id: uuid.UUID
    name: str | None


class SessionRead(BaseModel):
    """A launch's session: who (as the platform named them), in which role, launched into what."""

    id: uuid.UUID
    message_type: str
    #: learner | instructor
    role: str
    #: the platform's role this maps to: student | teacher
    platform_role: str
    user: SessionUser
    platform: str
    target: TargetRead | None
    #: the learner's record: ``enrolment/<id>`` in a course, ``exam-candidate/<id>`` on an exam's roster
    record: str | None
    expires_at: datetime
    #: deep linking: whether several items may be returned
    accept_multiple: bool | None = None


class ExamView(BaseModel):
    """The launched exam; for a learner, their attempts and, once the teachers released it, their result."""

    exam: ExamRead
    result: MyResult | None


class DeepLinkItem(BaseModel):
    kind: Literal["course", "exam"]
    id: str = Field(max_length=64)


class DeepLinkChoice(BaseModel):
    items: list[DeepLinkItem] = Field(min_length=1, max_length=20)


class DeepLinkResponse(BaseModel):
    """POST ``jwt`` as the form field ``JWT`` to ``deep_link_return_url`` (Deep Linking 2.0 §4.2): ``form_html`` is
    a page that does it on load."""

    deep_link_return_url: str
    jwt: str
    form_html: str


class KeyRead(BaseModel):
    kid: str
    algorithm: str


class ScoreRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source: str
    lineitem_url: str
    score: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class RedriveResult(BaseModel):
    requeued: int
