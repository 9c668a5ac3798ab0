"""The dashboard's routes on the gateway (pure ASGI, like the rest of it):

* ``GET /dashboard`` — the map, indicator cards and connection shares; ``?province=`` narrows (province officers
  always see their own province; records refuses them any other);
* ``GET /dashboard/institutions/{code}`` — one institution: connection, freshness, rows per week, and the public
  count of its diplomas with the verification link format (no personal data);
* ``GET /dashboard/login`` and ``POST /dashboard/login`` — officers sign in with identity's password sign-in; the
  access token is kept in an HttpOnly, SameSite=Strict cookie scoped to ``/dashboard`` for its lifetime
  (``Secure`` over HTTPS); ``POST /dashboard/logout`` drops it. A bearer token in ``Authorization`` works too.

Only officers (national, or of a province) are served; every number is read from records' and credentials' APIs
with the officer's own token, so the services' rules decide what they see. Pages are ``no-store`` and carry a
Content-Security-Policy without any script."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode

import aiohttp
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from gateway.dashboard import render
from services.common.errors import AppError
from services.common.id_numbers import provinces as province_list
from services.common.permissions import is_national_officer, provinces_of

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("gateway.dashboard")
COOKIE = "vet_dashboard"
MAX_FORM_BYTES = 4096
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class UpstreamError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Dashboard:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    # -- plumbing -------------------------------------------------------------------------------------------------

    def _session(self) -> aiohttp.ClientSession:
        session = self.gateway.proxy.session
        if session is None:
            raise UpstreamError(503, "the gateway is starting")
        return session

    async def _get(self, service: str, path: str, token: str | None) -> Any:
        session = self._session()
        pool = self.gateway.pools[service]
        headers = {"Accept": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
        last: Exception | None = None
        for replica in pool.candidates():
            try:
                async with session.get(replica.url + path, headers=headers, timeout=aiohttp.ClientTimeout(total=15.0)) as resp:
                    body = await resp.read()
                    if resp.status >= 400:
                        try:
                            detail = json.loads(body).get("detail") or resp.reason
                        except ValueError:
                            detail = resp.reason or "error"
                        raise UpstreamError(resp.status, str(detail))
                    return json.loads(body)
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                pool.eject(replica)
                last = exc
        raise UpstreamError(503, f"{service} cannot be reached ({type(last).__name__})")

    async def _post_json(self, service: str, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        session = self._session()
        for replica in self.gateway.pools[service].candidates():
            try:
                # the proxy's session adds no headers of its own: the content type is set here
                async with session.post(replica.url + path, data=json.dumps(payload).encode(), timeout=aiohttp.ClientTimeout(total=15.0),
                                        headers={"Content-Type": "application/json", "Accept": "application/json"}) as resp:
                    try:
                        return resp.status, await resp.json(content_type=None)
                    except ValueError:
                        return resp.status, {}
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
                self.gateway.pools[service].eject(replica)
        return 503, {"detail": f"{service} cannot be reached"}

    @staticmethod
    def _token(scope: Scope) -> str | None:
        cookie = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                text = value.decode("latin-1")
                if text[:7].lower() == "bearer ":
                    return str(text[7:].strip())
            elif name == b"cookie":
                cookie = value.decode("latin-1")
        if cookie:
            for part in cookie.split(";"):
                key, _, value = part.strip().partition("=")
                if key == COOKIE and value:
                    return str(value)
        return None

    @staticmethod
    def _secure(scope: Scope) -> bool:
        return scope.get("scheme") == "https"

    async def _respond(self, response: Response, scope: Scope, receive: Receive, send: Send) -> int:
        response.headers.update(HEADERS)
        await response(scope, receive, send)
        return response.status_code

    async def _read_form(self, receive: Receive) -> dict[str, str] | None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_FORM_BYTES:
                return None
            if not message.get("more_body"):
                break
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
        return {k: v[0] for k, v in form.items()}

    # -- routes ---------------------------------------------------------------------------------------------------

    async def handle(self, scope: Scope, receive: Receive, send: Send, rid: str) -> int:
        path, method = scope["path"], scope["method"]
        if path == "/dashboard/login":
            if method == "POST":
                return await self._login(scope, receive, send)
            return await self._respond(HTMLResponse(render.login_form()), scope, receive, send)
        if path == "/dashboard/logout" and method == "POST":
            response = RedirectResponse("/dashboard/login", status_code=303)
            response.delete_cookie(COOKIE, path="/dashboard", secure=self._secure(scope), httponly=True, samesite="strict")
            return await self._respond(response, scope, receive, send)
        if method not in ("GET", "HEAD"):
            return await self._respond(HTMLResponse(render.message("Không hỗ trợ", "Phương thức không được hỗ trợ."), 405), scope, receive, send)
        token = self._token(scope)
        if token is None:
            return await self._respond(RedirectResponse("/dashboard/login", status_code=303), scope, receive, send)
        try:
            principal = await self.gateway.tokens.principal(token)
        except AppError:
            return await self._respond(HTMLResponse(render.login_form("Phiên đăng nhập đã hết hạn; đăng nhập lại."), 401),
                                       scope, receive, send)
        national = is_national_officer(principal)
        mine = sorted(provinces_of(principal))
        if not national and not mine:
            return await self._respond(HTMLResponse(render.message("Không có quyền", "Trang giám sát dành cho cán bộ Sở và Bộ."), 403),
                                       scope, receive, send)
        user = str(principal.claims.get("preferred_username") or principal.claims.get("name") or principal.sub)
        query = parse_qs(scope["query_string"].decode("latin-1"))
        try:
            if path == "/dashboard":
                html = await self._overview(token, user, national, mine, (query.get("province") or [None])[0])
            elif path.startswith("/dashboard/institutions/") and path.count("/") == 3:
                html = await self._institution(token, user, path.rsplit("/", 1)[1])
            else:
                return await self._respond(HTMLResponse(render.message("Không tìm thấy", "Không có trang này."), 404), scope, receive, send)
        except UpstreamError as exc:
            status = exc.status if exc.status in (403, 404) else 503
            return await self._respond(HTMLResponse(render.message("Không xem được", exc.detail, user=user), status), scope, receive, send)
        return await self._respond(HTMLResponse(html), scope, receive, send)

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> int:
        form = await self._read_form(receive)
        if not form or not form.get("username") or not form.get("password"):
            return await self._respond(HTMLResponse(render.login_form("Nhập tên đăng nhập và mật khẩu."), 400), scope, receive, send)
        status, body = await self._post_json("identity", "/v1/auth/login",
                                              {"username": form["username"][:100], "password": form["password"][:200]})
        if status != 200 or "access_token" not in body:
            text = "Tên đăng nhập hoặc mật khẩu không đúng." if status in (400, 401, 403, 422) else "Chưa đăng nhập được; thử lại sau."
            return await self._respond(HTMLResponse(render.login_form(text), 401 if status < 500 else 503), scope, receive, send)
        response = RedirectResponse("/dashboard", status_code=303)
        response.set_cookie(COOKIE, body["access_token"], max_age=int(body.get("expires_in") or 900), path="/dashboard",
                            secure=self._secure(scope), httponly=True, samesite="strict")
        return await self._respond(response, scope, receive, send)

    async def _overview(self, token: str, user: str, national: bool, mine: list[str], province: str | None) -> str:
        named = {code: p.name for code, p in province_list().items()}
        if not national and province is None and len(mine) == 1:
            province = mine[0]
        if province is not None and not (len(province) == 3 and province.isdigit()):
            raise UpstreamError(404, "Mã tỉnh không hợp lệ.")
        q = "?" + urlencode({"province": province}) if province else ""
        board = await self._get("records", f"/v1/oversight/connections{q}", token)
        report = await self._get("records", f"/v1/oversight/indicators{q}", token)
        label = named.get(province, province) if province else "Toàn quốc"
        choices = sorted({s["province_code"] for s in board["shares"]}) if national else mine
        return render.dashboard(user=user, scope_label=label, province=province, board=board, report=report,
                                provinces_named=named, choices=choices if (national or len(mine) > 1) else [])

    async def _institution(self, token: str, user: str, code: str) -> str:
        if not code or len(code) > 20 or not code.replace("-", "").replace(".", "").replace("_", "").isalnum():
            raise UpstreamError(404, "Mã cơ sở không hợp lệ.")
        board = await self._get("records", "/v1/oversight/connections", token)
        row = next((r for r in board["items"] if r["code"] == code), None)
        if row is None:
            raise UpstreamError(404, f"Không có cơ sở {code} trong phạm vi bạn được xem.")
        try:
            counts = await self._get("credentials", f"/v1/institutions/{quote(code, safe='')}/credential-counts", None)
        except UpstreamError:
            counts = None
        named = {c: p.name for c, p in province_list().items()}
        return render.institution(user=user, row=row, counts=counts, province_name=named.get(row["province_code"], row["province_code"]))
