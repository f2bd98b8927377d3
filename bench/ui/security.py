"""Who may use the operator page, and how a change of state (answer, abort) is protected.

* Bound to a loopback address (the default), pages are readable by anyone on this machine, and
  the Host header must name the loopback address (a DNS-rebinding page cannot pose as it).
* Bound to any other address, every request needs the server's token: given once as `?token=`
  (printed at start), then carried by an HttpOnly, SameSite=Strict cookie.
* Every POST (answer a prompt, request an abort) needs the token in the `X-Bench-Token` header, a
  JSON body and, when the browser sends one, an Origin equal to the page's own. A page on another
  site can neither read the token (same-origin policy) nor set that header without a CORS
  preflight this server never grants, so a cross-site request cannot change state (CSRF).
* Nothing else changes state: the server only inserts answer and abort-request rows; results
  already journalled are never written.
"""

from __future__ import annotations

import ipaddress
import secrets
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

COOKIE = "bench_token"
HEADER = b"x-bench-token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Guard:
    """ASGI middleware enforcing the rules above."""

    def __init__(self, app: Any, *, token: str, host: str, port: int) -> None:
        self.app = app
        self.token = token
        self.loopback = is_loopback(host)
        self.port = port
        self.allowed_hosts = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"} if self.loopback else None

    def set_port(self, port: int) -> None:
        self.port = port
        if self.loopback:
            self.allowed_hosts = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}

    def _ok(self, value: str | None) -> bool:
        return bool(value) and secrets.compare_digest(str(value), self.token)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope["method"]
        if self.allowed_hosts is not None and headers.get("host", "") not in self.allowed_hosts:
            await _plain(send, 421, f"this server answers to 127.0.0.1:{self.port} only")
            return
        if method not in ("GET", "HEAD", "POST"):
            await _plain(send, 405, "method not allowed")
            return
        cookie = SimpleCookie(headers.get("cookie", ""))
        cookie_token = cookie[COOKIE].value if COOKIE in cookie else None
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if not self.loopback and not (
            self._ok(cookie_token) or self._ok(headers.get(HEADER.decode())) or self._ok(query.get("token"))
        ):
            await _plain(send, 401, "token required: open the address printed when bench ui started")
            return
        if method == "GET" and "token" in query and self._ok(query.get("token")):
            rest = urlencode({k: v for k, v in query.items() if k != "token"})
            location = scope["path"] + (f"?{rest}" if rest else "")
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [
                        (b"location", location.encode("latin-1")),
                        (b"set-cookie", f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode("latin-1")),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if method == "POST":
            origin = headers.get("origin")
            if not self._ok(headers.get(HEADER.decode())):
                await _plain(send, 403, "a change needs the page's token (X-Bench-Token header)")
                return
            if origin is not None and origin.split("://", 1)[-1] != headers.get("host", ""):
                await _plain(send, 403, f"cross-origin request refused (Origin {origin})")
                return
            if not headers.get("content-type", "").startswith("application/json"):
                await _plain(send, 415, "expected a JSON body")
                return
        await self.app(scope, receive, send)


async def _plain(send: Any, status: int, text: str) -> None:
    body = text.encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
