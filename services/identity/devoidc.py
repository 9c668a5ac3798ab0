"""DEVELOPMENT ONLY: a stand-in for VNeID, a small but standards-following OpenID Connect provider.

It lets ``make run`` demonstrate citizen sign-in offline, and the tests run the real relying-party code against a
real provider. Authorisation code flow with PKCE (S256 only), ``state`` passed back, ``nonce`` put in the ID token,
codes single-use and short-lived, client authentication, exact redirect-URI match, RS256 ID tokens published in
its JWKS. It never runs in production (the identity app refuses to mount it there). Sign-in is automatic: the
citizen is chosen by ``login_hint`` (an alias from the demo list, never an ID number: those stay out of URLs) or
is the first demo citizen."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from jose import jwk, jwt

DEMO_CITIZENS: list[dict[str, str]] = [
    {"alias": "minh", "personal_id": "001203012345", "name": "Trần Văn Minh", "birthdate": "2003-05-14", "gender": "male"},
    {"alias": "nhung", "personal_id": "079304056789", "name": "Lê Thị Hồng Nhung", "birthdate": "2004-09-02", "gender": "female"},
]


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


@dataclass
class ProviderState:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    public_url: str
    citizens: list[dict[str, str]] = field(default_factory=lambda: list(DEMO_CITIZENS))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: test hook: "wrong_key" | "wrong_nonce" | "wrong_audience" | "expired" — how the next ID tokens misbehave;
    #: "wrong_iss" | "no_iss" — how the next authorisation responses do
    misbehave: str | None = None

    def __post_init__(self) -> None:
        self.kid = secrets.token_hex(8)
        self.key_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def jwks(self) -> dict[str, Any]:
        public = jwk.construct(self.key_pem, "RS256").public_key().to_dict()
        public = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in public.items()}
        return {"keys": [public | {"kid": self.kid, "use": "sig", "alg": "RS256"}]}


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers={"Cache-Control": "no-store"})


def dev_oidc_router(state: ProviderState, prefix: str = "/dev-oidc") -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["dev-only VNeID stand-in"])

    @router.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return {
            "issuer": state.issuer,
            "authorization_endpoint": f"{state.public_url}/authorize",
            "token_endpoint": f"{state.issuer}/token",
            "jwks_uri": f"{state.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "profile"],
            "claims_supported": ["sub", "name", "birthdate", "gender", "personal_id"],
        }

    @router.get("/jwks")
    async def jwks() -> dict[str, Any]:
        return state.jwks()

    @router.get("/authorize")
    async def authorize(
        response_type: str = Query(),
        client_id: str = Query(),
        redirect_uri: str = Query(),
        state_: str = Query(alias="state"),
        nonce: str = Query(),
        code_challenge: str = Query(),
        code_challenge_method: str = Query(),
        scope: str = Query(),
        login_hint: str | None = Query(default=None),
    ) -> Any:
        if client_id != state.client_id or redirect_uri not in state.redirect_uris:
            return _error(400, "invalid_request", "unknown client or redirect_uri")  # never redirect to an unknown URI
        if response_type != "code" or "openid" not in scope.split() or code_challenge_method != "S256" or not code_challenge:
            return RedirectResponse(f"{redirect_uri}?{urlencode({'error': 'invalid_request', 'state': state_, 'iss': state.issuer})}", 302)
        citizen = next((c for c in state.citizens if c["alias"] == login_hint), state.citizens[0])
        code = secrets.token_urlsafe(24)
        state.codes[code] = {
            "client_id": client_id, "redirect_uri": redirect_uri, "nonce": nonce, "challenge": code_challenge,
            "citizen": citizen, "expires": time.time() + 60, "used": False,
        }
        answer = {"code": code, "state": state_, "iss": state.issuer}  # RFC 9207
        if state.misbehave == "wrong_iss":
            answer["iss"] = "https://attacker.example/"
        elif state.misbehave == "no_iss":
            del answer["iss"]
        return RedirectResponse(f"{redirect_uri}?{urlencode(answer)}", 302)

    @router.post("/token")
    async def token(
        request: Request,
        grant_type: str = Form(),
        code: str = Form(),
        redirect_uri: str = Form(),
        code_verifier: str = Form(),
        client_id: str | None = Form(default=None),
        client_secret: str | None = Form(default=None),
    ) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != state.client_id or not secrets.compare_digest(client_secret or "", state.client_secret):
            return _error(401, "invalid_client", "client authentication failed")
        if grant_type != "authorization_code":
            return _error(400, "unsupported_grant_type", grant_type)
        entry = state.codes.get(code)
        if entry is None or entry["used"] or entry["expires"] < time.time():
            if entry is not None:
                entry["used"] = True
            return _error(400, "invalid_grant", "unknown, used or expired code")
        entry["used"] = True  # single use, even when the rest of the request is wrong
        if entry["client_id"] != client_id or entry["redirect_uri"] != redirect_uri:
            return _error(400, "invalid_grant", "code was issued to another client or redirect_uri")
        if not secrets.compare_digest(s256(code_verifier), entry["challenge"]):
            return _error(400, "invalid_grant", "PKCE verification failed")
        now = int(time.time())
        c = entry["citizen"]
        claims = {
            "iss": state.issuer, "sub": hashlib.sha256(c["personal_id"].encode()).hexdigest()[:32], "aud": client_id,
            "iat": now, "exp": now + 300, "auth_time": now, "nonce": entry["nonce"],
            "personal_id": c["personal_id"], "name": c["name"], "birthdate": c["birthdate"], "gender": c["gender"],
        }
        key, kid = state.key_pem, state.kid
        if state.misbehave == "wrong_key":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        elif state.misbehave == "wrong_nonce":
            claims["nonce"] = secrets.token_urlsafe(16)
        elif state.misbehave == "wrong_audience":
            claims["aud"] = "someone-else"
        elif state.misbehave == "expired":
            claims["exp"] = now - 600
        id_token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
        return JSONResponse(
            {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 300, "id_token": id_token},
            headers={"Cache-Control": "no-store"},
        )

    return router


def create_provider_app(state: ProviderState) -> FastAPI:
    """The provider as its own app (tests run it as a separate server)."""
    app = FastAPI(title="VNeID stand-in (development only)")
    app.include_router(dev_oidc_router(state, prefix=""))
    return app
