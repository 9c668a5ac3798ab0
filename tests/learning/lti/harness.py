"""An LTI 1.3 platform (the LMS side: what a school's Moodle does), written from the IMS specifications to test the
tool against, in-process as an ASGI app on the tests' routing transport:

* its own RSA key, published as a JWK Set (IMS Security Framework §6.3);
* the OIDC authorisation endpoint (Security Framework §5.1.1.2 / LTI 1.3 core §5.1.1): checks the tool's
  authentication request (``scope=openid``, ``response_type=id_token``, ``response_mode=form_post``, ``prompt=none``,
  the registered ``redirect_uri``, a ``state`` and a ``nonce``) and answers with the auto-posting form carrying the
  signed ``id_token`` and the ``state`` (§5.1.1.3);
* the OAuth2 token endpoint (Security Framework §4.1): ``client_credentials`` with a JWT client assertion (RFC 7523
  §2.2, §3) verified against the tool's published JWKS, ``jti`` once only;
* the AGS line item score service (Assignment and Grade Services 2.0 §3.4): bearer token with the ``score`` scope,
  ``application/vnd.ims.lis.v1.score+json``, the score's required members checked; it can be told to fail with 503.
"""

from __future__ import annotations

import html
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
ACTIVITY = {"Initialized", "Started", "InProgress", "Submitted", "Completed"}
GRADING = {"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"}


def rsa_key() -> tuple[str, dict[str, Any]]:
    """A private key PEM and its public JWK."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    data = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in jwk.construct(public, "RS256").to_dict().items()}
    return pem, data


@dataclass
class Launch:
    """What the platform will put in the id_token for a ``lti_message_hint``."""

    message_type: str
    roles: list[str]
    target: str | None = None
    resource_link_id: str = field(default_factory=lambda: f"rl-{uuid.uuid4().hex[:8]}")
    lineitem: str | None = None
    name: str | None = "Nguyễn Thị Lan"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReceivedScore:
    path: str
    body: dict[str, Any]
    content_type: str


class PlatformHarness:
    def __init__(self, authority: str, *, client_id: str = "vet-tool", deployment_id: str = "1") -> None:
        self.authority = authority
        self.issuer = f"https://{authority}"
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.kid = "moodle-" + secrets.token_hex(4)
        self.private_pem, public = rsa_key()
        self.public_jwk = public | {"kid": self.kid, "alg": "RS256", "use": "sig"}
        self.launches: dict[str, Launch] = {}
        #: the tool's client (to read its JWKS when a client assertion comes); its redirect URI as registered
        self.tool: httpx.AsyncClient | None = None
        self.redirect_uri = ""
        self.access_tokens: dict[str, str] = {}
        self.seen_jti: set[str] = set()
        self.token_requests = 0
        self.scores: list[ReceivedScore] = []
        #: answer the score service with 503 this many times first (a platform briefly down)
        self.fail_scores = 0
        self.auth_requests: list[dict[str, str]] = []
        self.app = Starlette(routes=[
            Route("/mod/lti/certs.php", self.jwks), Route("/mod/lti/auth.php", self.authorize, methods=["GET", "POST"]),
            Route("/mod/lti/token.php", self.token, methods=["POST"]),
            Route("/mod/lti/services.php/{context}/lineitems/{item}/lineitem/scores", self.score, methods=["POST"]),
        ])

    # -- what an administrator copies into the tool ------------------------------------------------------------------
    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/mod/lti/certs.php"

    @property
    def auth_login_url(self) -> str:
        return f"{self.issuer}/mod/lti/auth.php"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/mod/lti/token.php"

    def lineitem(self, context: str = "7", item: str | None = None) -> str:
        return f"{self.issuer}/mod/lti/services.php/{context}/lineitems/{item or uuid.uuid4().hex[:6]}/lineitem?type_id=3"

    def registration(self, **extra: Any) -> dict[str, Any]:
        return {"name": "Moodle Trường Cao đẳng CD0101", "issuer": self.issuer, "client_id": self.client_id,
                "deployment_ids": [self.deployment_id], "jwks_url": self.jwks_url, "auth_login_url": self.auth_login_url,
                "token_url": self.token_url} | extra

    # -- messages (LTI 1.3 core §5) ----------------------------------------------------------------------------------
    def claims(self, launch: Launch, *, sub: str, nonce: str, now: int | None = None) -> dict[str, Any]:
        now = now or int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.client_id, "sub": sub, "iat": now, "exp": now + 300, "nonce": nonce,
            LTI + "message_type": launch.message_type, LTI + "version": "1.3.0", LTI + "deployment_id": self.deployment_id,
            LTI + "roles": launch.roles,
            LTI + "context": {"id": "7", "label": "KNM01", "title": "Kỹ năng mềm K47", "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"]},
            LTI + "tool_platform": {"guid": self.authority, "product_family_code": "moodle", "version": "2024100700"},
        }
        if launch.name:
            claims |= {"name": launch.name, "given_name": launch.name.split()[-1], "family_name": launch.name.split()[0],
                       "email": "lan.nguyen@cd0101.edu.vn"}
        if launch.message_type == "LtiResourceLinkRequest":
            claims[LTI + "resource_link"] = {"id": launch.resource_link_id, "title": "Kỹ năng giao tiếp (LTI)"}
            claims[LTI + "target_link_uri"] = self.redirect_uri + (f"?target={launch.target}" if launch.target else "")
            if launch.lineitem:
                claims[AGS_ENDPOINT] = {"scope": [LINEITEM_SCOPE, SCORE_SCOPE], "lineitem": launch.lineitem,
                                        "lineitems": launch.lineitem.split("/lineitems/")[0] + "/lineitems?type_id=3"}
        else:
            claims[DL + "deep_linking_settings"] = {
                "deep_link_return_url": f"{self.issuer}/mod/lti/contentitem_return.php?course=7&id=3",
                "accept_types": ["ltiResourceLink"], "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": True, "auto_create": True, "data": "moodle-dl-data-" + launch.resource_link_id}
        return claims | launch.extra

    def sign(self, claims: dict[str, Any], *, headers: dict[str, Any] | None = None, key: str | None = None) -> str:
        return jwt.encode(claims, key or self.private_pem, algorithm="RS256", headers={"kid": self.kid} | (headers or {}))

    def expect(self, launch: Launch) -> str:
        """Register a launch; returns the ``lti_message_hint`` that selects it."""
        hint = secrets.token_hex(6)
        self.launches[hint] = launch
        return hint

    # -- the platform's endpoints --------------------------------------------------------------------------------------
    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.public_jwk]})

    async def authorize(self, request: Request) -> Response:
        """Security Framework §5.1.1.2: the authentication request; §5.1.1.3: the response as a form post."""
        params = dict(request.query_params) | (dict(await request.form()) if request.method == "POST" else {})
        self.auth_requests.append(params)  # type: ignore[arg-type]
        wanted = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
                  "client_id": self.client_id, "redirect_uri": self.redirect_uri}
        wrong = [k for k, v in wanted.items() if params.get(k) != v]
        if wrong or not params.get("state") or not params.get("nonce") or not params.get("login_hint"):
            return JSONResponse({"error": "invalid_request", "wrong": wrong}, status_code=400)
        launch = self.launches.get(str(params.get("lti_message_hint")))
        if launch is None:
            return JSONResponse({"error": "invalid_request", "error_description": "unknown lti_message_hint"}, status_code=400)
        token = self.sign(self.claims(launch, sub=str(params["login_hint"]), nonce=str(params["nonce"])))
        form = (f'<form method="post" action="{html.escape(self.redirect_uri)}">'
                f'<input type="hidden" name="id_token" value="{token}"><input type="hidden" name="state" value="{html.escape(str(params["state"]))}">'
                "</form><script>document.forms[0].submit()</script>")
        return HTMLResponse(form)

    async def _tool_keys(self) -> list[dict[str, Any]]:
        assert self.tool is not None
        r = await self.tool.get("/v1/lti/jwks.json")
        r.raise_for_status()
        return r.json()["keys"]

    async def token(self, request: Request) -> Response:
        """Security Framework §4.1: client_credentials with a signed JWT (RFC 7523) as the client's authentication."""
        self.token_requests += 1
        form = await request.form()

        def refuse(error: str, why: str) -> Response:
            return JSONResponse({"error": error, "error_description": why}, status_code=400 if error != "invalid_client" else 401)

        if form.get("grant_type") != "client_credentials":
            return refuse("unsupported_grant_type", "client_credentials only")
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return refuse("invalid_client", "a JWT client assertion is required")
        assertion = str(form.get("client_assertion") or "")
        try:
            header = jwt.get_unverified_header(assertion)
            key = next(k for k in await self._tool_keys() if k["kid"] == header.get("kid"))
            claims = jwt.decode(assertion, key, algorithms=["RS256"], audience=self.token_url,
                                options={"require_exp": True, "require_iat": True, "require_jti": True, "require_sub": True})
        except Exception as exc:  # noqa: BLE001 - any failure is the client's
            return refuse("invalid_client", f"the client assertion does not verify: {exc}")
        if claims["iss"] != self.client_id or claims["sub"] != self.client_id:
            return refuse("invalid_client", "iss and sub must be the client id")
        if claims["jti"] in self.seen_jti:
            return refuse("invalid_client", "jti replayed")
        self.seen_jti.add(claims["jti"])
        scopes = str(form.get("scope") or "").split()
        if SCORE_SCOPE not in scopes:
            return refuse("invalid_scope", "only the score scope is granted here")
        token = secrets.token_urlsafe(24)
        self.access_tokens[token] = " ".join(scopes)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": " ".join(scopes)})

    async def score(self, request: Request) -> Response:
        """AGS 2.0 §3.4: POST a score to ``<lineitem>/scores``."""
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or SCORE_SCOPE not in self.access_tokens.get(auth[7:], ""):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip() != "application/vnd.ims.lis.v1.score+json":
            return JSONResponse({"error": "unsupported media type"}, status_code=415)
        if self.fail_scores > 0:
            self.fail_scores -= 1
            return JSONResponse({"error": "maintenance"}, status_code=503)
        body = await request.json()
        problems = []
        if not isinstance(body.get("userId"), str):
            problems.append("userId")
        if body.get("activityProgress") not in ACTIVITY:
            problems.append("activityProgress")
        if body.get("gradingProgress") not in GRADING:
            problems.append("gradingProgress")
        try:
            if datetime.fromisoformat(body["timestamp"]).tzinfo is None:
                problems.append("timestamp")
        except (KeyError, TypeError, ValueError):
            problems.append("timestamp")
        if "scoreGiven" in body and not (0 <= body["scoreGiven"] and body.get("scoreMaximum", 0) > 0):
            problems.append("scoreGiven")
        if problems:
            return JSONResponse({"error": "invalid score", "fields": problems}, status_code=400)
        self.scores.append(ReceivedScore(request.url.path, body, content_type))
        return Response(status_code=204)


def form_fields(page: str) -> dict[str, str]:
    """The hidden fields of an auto-posting form (what a browser would post)."""
    return {m.group(1): html.unescape(m.group(2)) for m in re.finditer(r'name="([^"]+)" value="([^"]*)"', page)}


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
