"""Identity settings (env prefix ``IDENTITY_``)."""

from __future__ import annotations

from pydantic import model_validator

from services.common.config import DEV_SECRET_PREFIX, ServiceSettings, service_config


class IdentitySettings(ServiceSettings):
    model_config = service_config("IDENTITY_")

    service_name: str = "identity"
    #: the ``iss`` of every token; other services set their ``<SVC>_JWT_ISSUER`` to the same value
    jwt_issuer: str = "http://127.0.0.1:8001"
    access_token_ttl_seconds: int = 900
    #: ES256 (default) or RS256 for new signing keys
    signing_algorithm: str = "ES256"
    #: encrypts signing keys at rest (Fernet key derived from it)
    key_encryption_secret: str = DEV_SECRET_PREFIX + "identity-key-encryption"
    #: keys the SHA-256 of machine-client secrets (a pepper: a stolen table alone does not give secrets)
    client_secret_pepper: str = DEV_SECRET_PREFIX + "identity-client-pepper"
    outbox_enabled: bool = False
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    #: peers whose X-Forwarded-For is believed (the gateway)
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]
    #: guessing protection (accounts/throttle.py): failures before the first wait per account+address pair, per
    #: address (any account) and per account (any address; these two hold only for addresses the account has never
    #: signed in from); each further failure doubles the wait from base, capped at max (Keycloak: 15 min); a count
    #: starts afresh after reset seconds without failures
    lockout_pair_failures: int = 5
    lockout_ip_failures: int = 20
    lockout_account_failures: int = 30
    lockout_base_seconds: float = 60.0
    lockout_max_seconds: float = 900.0
    lockout_reset_seconds: float = 12 * 3600.0
    # -- VNeID (any OpenID Connect provider) as upstream sign-in ---------------------------------------------
    vneid_issuer: str = ""
    vneid_client_id: str = ""
    vneid_client_secret: str = ""
    #: our callback registered at the provider
    vneid_redirect_uri: str = "http://127.0.0.1:8000/api/identity/v1/auth/vneid/callback"
    vneid_scopes: str = "openid profile"
    #: which ID-token claim carries the 12-digit personal identification number
    vneid_id_number_claim: str = "personal_id"
    vneid_name_claim: str = "name"
    vneid_birthdate_claim: str = "birthdate"
    vneid_gender_claim: str = "gender"
    #: the front end's routes a citizen may be sent back to after signing in (absolute URLs, matched exactly; a
    #: relative return_to is read against public_base_url). Empty: the platform's root in development; required in
    #: production when VNeID is configured. Never a package player or any other page with untrusted content.
    sign_in_return_urls: list[str] = []
    #: lifetime of the one-time code the front end exchanges for the tokens (POST /v1/auth/vneid/token)
    sign_in_code_seconds: int = 60
    #: development-only stand-in provider mounted at /dev-oidc (never in production)
    dev_oidc_enabled: bool = False
    #: where browsers reach the stand-in's authorize endpoint (through the gateway by default)
    dev_oidc_public_url: str = ""

    @model_validator(mode="after")
    def _no_stand_in_in_production(self) -> IdentitySettings:
        if self.environment == "production" and self.dev_oidc_enabled:
            raise ValueError("the development-only VNeID stand-in cannot be enabled in production")
        if not self.dev_oidc_public_url:
            self.dev_oidc_public_url = self.public_base_url.rstrip("/") + "/api/identity/dev-oidc"
        if self.environment == "production" and self.vneid_issuer:
            if not self.vneid_issuer.startswith("https://"):
                raise ValueError("IDENTITY_VNEID_ISSUER must be an https:// URL in production")
            if not self.sign_in_return_urls:
                raise ValueError("IDENTITY_SIGN_IN_RETURN_URLS must name the front end's sign-in routes in production")
        bad = [u for u in self.sign_in_return_urls if not u.startswith(("https://", "http://")) or "#" in u]
        if bad:
            raise ValueError(f"IDENTITY_SIGN_IN_RETURN_URLS are absolute http(s) URLs without a fragment: {bad}")
        if not self.sign_in_return_urls:
            self.sign_in_return_urls = [self.public_base_url.rstrip("/") + "/"]
        return self

    def secret_fields(self) -> dict[str, str]:
        secrets = {"key_encryption_secret": self.key_encryption_secret, "client_secret_pepper": self.client_secret_pepper}
        if self.vneid_issuer:
            secrets["vneid_client_secret"] = self.vneid_client_secret
        return super().secret_fields() | secrets
