"""Request handler: routing, request validation and JSON/HTML responses.

Every client mistake gets a 4xx with a JSON body ``{"error": ..., "reason"?: ...}``; only a real
failure of the box gives a 5xx (503 for a known NicEdgeError, 500 for a bug, logged once).
One request per connection (``Connection: close``): the server's connection handling relies on it.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from nic_edge import __version__
from nic_edge.engine.validate import MAX_K, MAX_TOP_K
from nic_edge.errors import ConfigError, InvalidInputError, NicEdgeError
from nic_edge.http import page

log = logging.getLogger(__name__)

_DIGITS = re.compile(r"[0-9]{1,18}")
_MISSING = object()
JSON_TYPE = "application/json"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
INVALID = "invalid_input"

# path -> {method: handler method name}; HEAD is served wherever GET is.
ROUTES: dict[str, dict[str, str]] = {
    "/": {"GET": "_page"},
    "/ask": {"POST": "_page_ask", "GET": "_page_ask_get"},
    "/healthz": {"GET": "_healthz"},
    "/api/status": {"GET": "_status"},
    "/metrics": {"GET": "_metrics"},
    "/api/ask": {"POST": "_api_ask"},
    "/api/retrieve": {"POST": "_api_retrieve"},
    "/api/alerts": {"GET": "_alerts"},
    "/api/cache/clear": {"POST": "_cache_clear"},
    "/api/tier": {"POST": "_tier"},
}


class ClientError(Exception):
    """A request the client got wrong; becomes a 4xx JSON error."""

    def __init__(self, code: int, message: str, reason: str | None = INVALID,
                 headers: dict[str, str] | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.reason, self.headers = code, message, reason, headers or {}
        self.hint = hint


def allowed(methods: dict[str, str]) -> str:
    names = set(methods) | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())
    return ", ".join(sorted(names))


def normalise_path(raw: str) -> str | None:
    """The route key for a request target: query ignored, slashes collapsed, no trailing slash."""
    try:
        path = urllib.parse.urlsplit(raw).path
    except ValueError:
        return None
    path = re.sub(r"/{2,}", "/", path or "/")
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    error_content_type = JSON_TYPE

    # ---- stdlib plumbing -------------------------------------------------------------------
    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()

    def handle_one_request(self) -> None:
        """The stdlib version, minus its 501 for unknown methods (we route every method)."""
        self._responded = False
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline, self.request_version, self.command = "", "HTTP/1.1", ""
            self.send_error(414, "request line too long")
            return
        if not self.raw_requestline or not self.parse_request():
            return
        self.close_connection = True
        if self.command != "POST":  # nothing more to read (a body is never read for other methods)
            self.server.request_read(self.connection)  # type: ignore[attr-defined]
        try:
            self._dispatch()
        except ClientError as exc:
            self._error(exc.code, exc.message, exc.reason, exc.headers, exc.hint)
        except (ConnectionError, TimeoutError):
            raise  # the client went away; the server logs it quietly
        except ConfigError as exc:  # e.g. an unknown tier name in /api/tier
            self._error(400, str(exc), INVALID)
        except InvalidInputError as exc:
            self._error(400, exc.message, INVALID)
        except NicEdgeError as exc:  # the box cannot serve this right now (model, storage...)
            log.warning("%s %s failed: %s", self.command, self.path[:200], exc)
            self._error(503, exc.message, "unavailable", {"Retry-After": "5"}, hint=exc.hint)
        except Exception:  # boundary: a bug must not kill the worker; logged once with traceback
            log.exception("internal error in %s %s", self.command, self.path[:200])
            self._error(500, "internal error", "internal")
        self.wfile.flush()

    def handle_expect_100(self) -> bool:
        # 100 Continue is sent only once the request passed its checks (see _read_body)
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Used by the stdlib for malformed request lines and headers: answer in JSON."""
        if code >= 500:  # 505 for "HTTP/2.0" etc. is the client's mistake, not ours
            code = 400
        self._error(code, message or "bad request", "bad_request")

    def version_string(self) -> str:
        return f"nic-edge/{__version__}"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    # ---- responses -------------------------------------------------------------------------
    def _send(self, code: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        if self._responded:
            return
        self._responded = True
        self.server.request_read(self.connection)  # type: ignore[attr-defined]
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # always answer with a status line
        self.send_response(code)
        if code != 204:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code != 204 and body:
            self.wfile.write(body)

    def _json(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        try:
            body = json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a JSON escape: \u-escape everything
            body = json.dumps(obj, default=str).encode("ascii")
        self._send(code, body, JSON_TYPE, headers)

    def _error(self, code: int, message: str, reason: str | None = None,
               headers: dict[str, str] | None = None, hint: str | None = None) -> None:
        body: dict[str, Any] = {"error": message}
        if reason:
            body["reason"] = reason
        if hint:
            body["hint"] = hint
        self._json(code, body, headers)

    def _html(self, code: int, text: str) -> None:
        self._send(code, text.encode("utf-8", "replace"), HTML_TYPE, {"Content-Security-Policy": page.CSP})

    # ---- routing ---------------------------------------------------------------------------
    @property
    def app(self) -> Any:
        return self.server.app  # type: ignore[attr-defined]

    def _dispatch(self) -> None:
        path = normalise_path(self.path)
        methods = ROUTES.get(path) if path is not None else None
        if methods is None:
            raise ClientError(404, "no such route", "not_found")
        method = self.command
        if method == "OPTIONS":
            self._send(204, b"", "", {"Allow": allowed(methods)})
            return
        name = methods.get("GET" if method == "HEAD" else method)
        if name is None:
            raise ClientError(405, f"method not allowed; use {allowed(methods)}", "method_not_allowed",
                              {"Allow": allowed(methods)})
        handler: Callable[[], None] = getattr(self, name)
        handler()

    # ---- request bodies --------------------------------------------------------------------
    def _read_body(self, required: bool = True) -> bytes:
        limit = self.server.cfg.max_body_bytes  # type: ignore[attr-defined]
        if self.headers.get("Transfer-Encoding"):
            raise ClientError(411, "send the body with Content-Length (chunked bodies are not accepted)",
                              "length_required")
        values = self.headers.get_all("Content-Length") or []
        if not values:
            if required:
                raise ClientError(411, "Content-Length required", "length_required")
            return b""
        if len(set(v.strip() for v in values)) != 1 or not _DIGITS.fullmatch(values[0].strip()):
            raise ClientError(400, "Content-Length must be one non-negative integer", "bad_request")
        length = int(values[0])
        if length > limit:  # decided from the header alone: the body is never read
            raise ClientError(413, f"body larger than {limit} bytes", "too_large")
        if length and self.headers.get("Expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        data = self.rfile.read(length) if length else b""
        if len(data) < length:
            raise ClientError(400, "body shorter than Content-Length", "bad_request")
        self.server.request_read(self.connection)  # type: ignore[attr-defined]
        return data

    def _json_body(self, required: bool = True) -> dict[str, Any]:
        raw = self._read_body(required)
        if not raw and not required:
            return {}
        try:
            obj = json.loads(raw.decode("utf-8-sig"))  # a BOM (some Windows tools send one) is not an error
        except (ValueError, RecursionError):  # bad UTF-8 / JSON, absurd nesting or number size
            raise ClientError(400, "body must be a UTF-8 JSON object") from None
        if not isinstance(obj, dict):
            raise ClientError(400, "body must be a JSON object")
        return obj

    @staticmethod
    def _int_field(body: dict[str, Any], key: str, most: int) -> int | None:
        value = body.get(key)
        if value is None:
            return None
        if type(value) is not int or not 1 <= value <= most:
            raise ClientError(400, f"'{key}' must be an integer 1-{most}")
        return value

    @staticmethod
    def _str_field(body: dict[str, Any], *keys: str) -> str:
        for key in keys:
            value = body.get(key, _MISSING)
            if value is _MISSING:
                continue
            if not isinstance(value, str):
                raise ClientError(400, f"'{key}' must be a string")
            return value
        raise ClientError(400, f"missing '{keys[0]}'")

    def _actor(self) -> str:
        return f"http:{self.client_address[0]}"

    def _require_admin(self) -> None:
        token = self.app.admin_token()
        if not token:
            raise ClientError(403, "admin routes are disabled on this device", "admin_disabled",
                              hint="set http.token_file to a file holding an admin token and restart")
        scheme, _, given = self.headers.get("Authorization", "").strip().partition(" ")
        # The stdlib decodes header bytes as Latin-1: its .encode("latin-1") is what was sent
        # (curl sends a UTF-8 token as typed), its .encode("utf-8") what http.client sends.
        # Both are compared every time, in constant time.
        want, given = token.encode("utf-8"), given.strip()
        ok = scheme.lower() == "bearer" and bool(
            hmac.compare_digest(given.encode("latin-1", "replace"), want)
            | hmac.compare_digest(given.encode("utf-8", "surrogateescape"), want))
        if not ok:
            raise ClientError(401, "admin route: send 'Authorization: Bearer <token>'", "unauthorized",
                              {"WWW-Authenticate": 'Bearer realm="nic-edge"'})

    # ---- routes ----------------------------------------------------------------------------
    def _healthz(self) -> None:
        state, details = self.app.health()
        body = {**(details or {}), "status": state}
        if state == "starting":
            self._json(503, body, {"Retry-After": "1"})
        else:
            self._json(200, body)

    def _status(self) -> None:
        self._json(200, self.app.status())

    def _alerts(self) -> None:
        self._json(200, self.app.alerts())

    def _metrics(self) -> None:
        self._send(200, self.app.metrics_text().encode("utf-8"), METRICS_TYPE)

    def _api_ask(self) -> None:
        body = self._json_body()
        question = self._str_field(body, "question")
        top_k = self._int_field(body, "top_k", MAX_TOP_K)
        answer = self.app.ask(question, top_k)
        if answer.get("reason") == INVALID:
            raise ClientError(400, _invalid_message(answer))
        self._json(200, answer)

    def _api_retrieve(self) -> None:
        body = self._json_body()
        query = self._str_field(body, "query", "question")
        res = self.app.retrieve(query, self._int_field(body, "k", MAX_K))
        if isinstance(body.get("id"), (str, int, float)) and not isinstance(body.get("id"), bool):
            res["id"] = body["id"]  # echoed, as `retrieve --jsonl` does
        self._json(200, res)

    def _cache_clear(self) -> None:
        self._require_admin()
        self._read_body(required=False)  # nothing needed; read so the connection closes cleanly
        self._json(200, self.app.clear_cache(self._actor()))

    def _tier(self) -> None:
        self._require_admin()
        body = self._json_body()
        if "tier" not in body:
            raise ClientError(400, "missing 'tier' (a tier name, or null to clear the override)")
        tier = body["tier"]
        if tier is not None and not isinstance(tier, str):
            raise ClientError(400, "'tier' must be a string or null")
        self._json(200, self.app.set_local_tier(tier, self._actor()))

    def _page(self) -> None:
        self._html(200, page.render(self.app.status(), self.app.alerts()))

    def _page_ask_get(self) -> None:
        # GET /ask?question=... answers too (a link or bookmark to an answer); a bare /ask, e.g.
        # a reload after the POST, lands back on the page instead of an error
        try:
            query = urllib.parse.urlsplit(self.path).query
        except ValueError:
            query = ""
        if not query:
            self._send(303, b"", HTML_TYPE, {"Location": "/"})
            return
        self._page_answer(query.encode("latin-1", "replace"))

    def _page_ask(self) -> None:
        try:
            raw = self._read_body()
        except ClientError as exc:  # a person at the form reads a page, not JSON
            # e.g. 413: 2,000 CJK characters (within the box's maxlength) make an 18 KB form body
            error = ("That question is too long to send; please shorten it." if exc.code == 413
                     else f"The form could not be read ({exc.message}); please try again.")
            self._html(exc.code, page.render(self.app.status(), self.app.alerts(), error=error))
            return
        self._page_answer(raw)

    def _page_answer(self, raw: bytes) -> None:
        try:
            fields = urllib.parse.parse_qs(raw.decode("utf-8"), max_num_fields=20, errors="strict")
        except (ValueError, UnicodeDecodeError):
            fields = None
        question = (fields or {}).get("question", [""])[0]
        code, answer, error = 200, None, None
        if fields is None:
            code, error = 400, "The form could not be read; please try again."
        else:
            try:
                answer = self.app.ask(question)
            except InvalidInputError as exc:
                code, error = 400, exc.message
            except NicEdgeError as exc:  # e.g. a damaged index: the person at the form gets the page, not JSON
                log.warning("%s %s failed: %s", self.command, self.path[:200], exc)
                code, error = 503, f"The box cannot answer right now: {exc}"
            if answer is not None and answer.get("reason") == INVALID:
                code, error, answer = 400, _invalid_message(answer), None
        self._html(code, page.render(self.app.status(), self.app.alerts(), question=question,
                                     answer=answer, error=error))


def _invalid_message(answer: dict[str, Any]) -> str:
    for key in ("error", "message"):
        if isinstance(answer.get(key), str) and answer[key]:
            return answer[key]
    return "question must be non-empty text without control characters and not too long"
