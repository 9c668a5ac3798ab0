"""LTI 1.3 messages without the database: the claim names, checking a platform's ``id_token`` (LTI 1.3 core §5,
IMS Security Framework §5.1.3), mapping its roles, building the Deep Linking response's claims (Deep Linking 2.0
§4.2) and the AGS client assertion (IMS Security Framework §4.1, RFC 7523).

Every refusal is a :class:`LaunchRefused` naming the reason and the claim, rendered as problem+json (403)."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from jose import jwt
from jose.exceptions import JOSEError, JWTError

from services.common.errors import AppError

ALGORITHM = "RS256"
LTI_VERSION = "1.3.0"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = LTI + "message_type"
VERSION = LTI + "version"
DEPLOYMENT_ID = LTI + "deployment_id"
TARGET_LINK_URI = LTI + "target_link_uri"
RESOURCE_LINK = LTI + "resource_link"
ROLES = LTI + "roles"
CUSTOM = LTI + "custom"
CONTEXT = LTI + "context"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
DL_SETTINGS = DL + "deep_linking_settings"
DL_CONTENT_ITEMS = DL + "content_items"
DL_DATA = DL + "data"
DL_MSG = DL + "msg"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
AGS_SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"
MESSAGE_TYPES = (RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST)
#: the custom parameter naming what a resource link launches (``course:<id>``), set by our deep-linking items
TARGET_PARAMETER = "vet_target"

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
#: LIS roles (LTI 1.3 §A.2) that teach or administer: they preview content and choose it by deep linking
INSTRUCTOR_ROLES = frozenset({
    LIS + "membership#Instructor", LIS + "membership#ContentDeveloper", LIS + "membership#Administrator",
    LIS + "membership#Mentor", LIS + "membership/Instructor#TeachingAssistant",
    LIS + "institution/person#Instructor", LIS + "institution/person#Faculty", LIS + "institution/person#Administrator",
    LIS + "system/person#Administrator", LIS + "system/person#SysAdmin",
})
#: LIS roles that learn: they are enrolled and their scores go back to the platform
LEARNER_ROLES = frozenset({
    LIS + "membership#Learner", LIS + "membership/Learner#Learner", LIS + "institution/person#Student",
    LIS + "institution/person#Learner",
})


class LaunchRefused(AppError):
    """A login or launch the tool will not accept; ``reason`` says which check failed, ``claim`` which claim."""

    status, title, slug = 403, "LTI launch refused", "lti-launch-refused"

    def __init__(self, detail: str, *, reason: str, claim: str | None = None) -> None:
        extensions: dict[str, Any] = {"reason": reason}
        if claim is not None:
            extensions["claim"] = claim
        super().__init__(detail, **extensions)


def split_url(value: Any) -> SplitResult | None:
    """An absolute http(s) URL's parts, or None for anything else (``urlsplit`` raises on some malformed ones)."""
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return None
    return parts if parts.scheme in ("http", "https") and parts.hostname else None


def role_uri(role: str) -> str:
    """A role as a full LIS URI: the deprecated short names (``Learner``) are context (membership) roles."""
    return role if ":" in role else f"{LIS}membership#{role}"


def map_roles(roles: list[str]) -> str | None:
    """``instructor`` (teaches: the platform's teacher role), ``learner`` (the platform's student), or None."""
    uris = {role_uri(r) for r in roles}
    if uris & INSTRUCTOR_ROLES:
        return "instructor"
    if uris & LEARNER_ROLES:
        return "learner"
    return None


def unverified_header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except JWTError:
        raise LaunchRefused("The id_token is not a JWT.", reason="malformed", claim="id_token") from None
    if header.get("alg") != ALGORITHM:
        raise LaunchRefused(f"The id_token is signed with {header.get('alg')!r}; only {ALGORITHM} is accepted.",
                            reason="algorithm", claim="alg")
    return header


def select_key(keys: list[dict[str, Any]], kid: str | None) -> dict[str, Any] | None:
    """The platform's RSA signing key named ``kid`` (or its only one when the token names none)."""
    usable = [k for k in keys if k.get("kty") == "RSA" and k.get("alg", ALGORITHM) == ALGORITHM and k.get("use", "sig") == "sig"]
    if kid is None:
        return usable[0] if len(usable) == 1 else None
    return next((k for k in usable if k.get("kid") == kid), None)


CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def printable(value: str) -> str:
    """``value`` without control characters (a name, a title)."""
    return CONTROL.sub("", value)


def _string(claims: dict[str, Any], name: str, *, reason: str, max_length: int = 255) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > max_length or CONTROL.search(value):
        raise LaunchRefused(f"The id_token's {name} claim is missing or not valid.", reason=reason, claim=name)
    return value


@dataclass(frozen=True)
class Expected:
    """What a platform's id_token must say: its issuer, our client id, the nonce sent with the login, the known
    deployments, and now (seconds) with the allowed clock skew."""

    issuer: str
    client_id: str
    nonce: str
    deployment_ids: frozenset[str]
    now: float
    skew: float


def verify_id_token(token: str, key: dict[str, Any], expected: Expected) -> dict[str, Any]:
    """The claims of a platform's ``id_token`` once every check of LTI 1.3 core §5.1.3 / Security Framework
    §5.1.3 has passed: RS256 signature with the platform's key, ``iss``, ``aud`` (and ``azp``), ``exp``, ``iat``,
    ``nonce``, ``sub``, a known ``deployment_id``, the message type and version, and the message's own claims."""
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={
            "verify_aud": False, "verify_iss": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False,
            "verify_sub": False, "verify_jti": False, "verify_at_hash": False})
    except JOSEError:  # a bad signature, or a registered key that is no RSA key at all
        raise LaunchRefused("The id_token's signature does not verify with the platform's key.", reason="signature",
                            claim="id_token") from None
    if claims.get("iss") != expected.issuer:
        raise LaunchRefused("The id_token was issued by another platform.", reason="issuer", claim="iss")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if expected.client_id not in audiences:
        raise LaunchRefused("The id_token is not meant for this tool (its aud does not name our client id).",
                            reason="audience", claim="aud")
    azp = claims.get("azp")
    if (len(audiences) > 1 and azp is None) or (azp is not None and azp != expected.client_id):
        raise LaunchRefused("The id_token's azp does not name this tool's client id.", reason="audience", claim="azp")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise LaunchRefused("The id_token has no expiry.", reason="expired", claim="exp")
    if expected.now > exp + expected.skew:
        raise LaunchRefused("The id_token has expired.", reason="expired", claim="exp")
    if not isinstance(iat, (int, float)) or isinstance(iat, bool) or iat > expected.now + expected.skew:
        raise LaunchRefused("The id_token's iat is missing or in the future.", reason="issued_at", claim="iat")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), expected.nonce.encode()):
        raise LaunchRefused("The id_token's nonce is not the one this login sent.", reason="nonce", claim="nonce")
    _string(claims, "sub", reason="subject")
    deployment = claims.get(DEPLOYMENT_ID)
    if not isinstance(deployment, str) or deployment not in expected.deployment_ids:
        raise LaunchRefused("The id_token's deployment is not registered with this tool.", reason="deployment",
                            claim=DEPLOYMENT_ID)
    if claims.get(MESSAGE_TYPE) not in MESSAGE_TYPES:
        raise LaunchRefused(f"The message type {claims.get(MESSAGE_TYPE)!r} is not one this tool handles.",
                            reason="message_type", claim=MESSAGE_TYPE)
    if claims.get(VERSION) != LTI_VERSION:
        raise LaunchRefused(f"The LTI version must be {LTI_VERSION}.", reason="version", claim=VERSION)
    roles = claims.get(ROLES)
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise LaunchRefused("The id_token's roles claim is missing or not a list of strings.", reason="roles", claim=ROLES)
    if claims[MESSAGE_TYPE] == RESOURCE_LINK_REQUEST:
        link = claims.get(RESOURCE_LINK)
        if (not isinstance(link, dict) or not isinstance(link.get("id"), str) or not link["id"] or len(link["id"]) > 255
                or CONTROL.search(link["id"])):
            raise LaunchRefused("A resource link launch carries the resource link's id.", reason="resource_link",
                                claim=RESOURCE_LINK)
        _string(claims, TARGET_LINK_URI, reason="target_link_uri", max_length=2000)
    else:
        settings = claims.get(DL_SETTINGS)
        if not isinstance(settings, dict) or not isinstance(settings.get("deep_link_return_url"), str):
            raise LaunchRefused("A deep linking request carries its settings with a return URL.",
                                reason="deep_linking_settings", claim=DL_SETTINGS)
        if "ltiResourceLink" not in (settings.get("accept_types") or []):
            raise LaunchRefused("The platform does not accept LTI resource links from this deep linking request.",
                                reason="deep_linking_settings", claim=DL_SETTINGS)
    return claims


def launch_target(claims: dict[str, Any]) -> str | None:
    """What a resource link launches, ``kind:id``: the custom parameter our deep-linking items set, else the
    ``target`` query parameter of the target link URI (a link an administrator configured by hand)."""
    custom = claims.get(CUSTOM)
    if isinstance(custom, dict) and isinstance(custom.get(TARGET_PARAMETER), str):
        return custom[TARGET_PARAMETER]
    parts = split_url(claims.get(TARGET_LINK_URI))
    return parse_qs(parts.query).get("target", [None])[0] if parts is not None else None


def deep_linking_response(*, client_id: str, issuer: str, deployment_id: str, data: Any, items: list[dict[str, Any]],
                          now: int, message: str | None = None) -> dict[str, Any]:
    """The claims of an ``LtiDeepLinkingResponse`` (Deep Linking 2.0 §4.2): from the tool (``iss`` = our client id)
    to the platform (``aud`` = its issuer), echoing the request's ``data``."""
    claims: dict[str, Any] = {
        "iss": client_id, "aud": issuer, "iat": now, "exp": now + 600, "nonce": secrets.token_urlsafe(16),
        MESSAGE_TYPE: DEEP_LINKING_RESPONSE, VERSION: LTI_VERSION, DEPLOYMENT_ID: deployment_id, DL_CONTENT_ITEMS: items,
    }
    if data is not None:
        claims[DL_DATA] = data
    if message:
        claims[DL_MSG] = message
    return claims


def client_assertion(*, client_id: str, audience: str, now: int) -> dict[str, Any]:
    """The claims of the JWT the tool authenticates with at the platform's token endpoint (IMS Security Framework
    §4.1.1, RFC 7523 §3): ``iss`` = ``sub`` = our client id, ``aud`` = the token endpoint, short-lived, a fresh
    ``jti``."""
    return {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 300, "jti": secrets.token_urlsafe(24)}


def scores_url(lineitem: str) -> str:
    """AGS 2.0 §3.4: the score service is the line item URL with ``/scores`` added to its path (query kept)."""
    parts = urlsplit(lineitem)
    return parts._replace(path=parts.path.rstrip("/") + "/scores").geturl()
