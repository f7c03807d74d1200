"""Alert notifications: signed generic webhook, Slack/Discord-compatible chat, e-mail (smtplib).

``Notifier.submit(alert)`` never blocks ingestion: it de-duplicates (an ``alert_id`` + ``state``
already sent, or the same device/rule/state within ``cooldown_s``) and puts the alert on a
bounded queue (oldest dropped when full, counted). The service thread delivers each alert to
every configured channel, retrying with exponential backoff (1, 2, 4, 8 s ...) waited on the stop
event.

Webhook verification recipe (receiver side)::

    ts = request.headers["X-NIC-Timestamp"]            # unix seconds, integer string
    sig = request.headers["X-NIC-Signature"]           # hex HMAC-SHA256
    expected = hmac.new(secret, ts.encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(sig, expected) and abs(time.time() - int(ts)) <= 300

The timestamp is inside the signed text, so a captured request cannot be replayed after the
tolerance window (and keep the ``alert_id`` + ``state`` of recent requests to refuse replays
within it). ``verify_signature`` below implements exactly this.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import queue
import smtplib
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any, Callable

from nic_edge.core.config import Config, read_secret
from nic_edge.core.lifecycle import Service
from nic_edge.errors import ConfigError

log = logging.getLogger(__name__)

SIG_HEADER, TS_HEADER = "X-NIC-Signature", "X-NIC-Timestamp"


def sign(secret: bytes, ts: str, body: bytes) -> str:
    return hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, ts: str, body: bytes, sig: str, now: float | None = None,
                     tolerance_s: float = 300.0) -> bool:
    try:
        age = abs((time.time() if now is None else now) - int(ts))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sig, sign(secret, ts, body))


def text_of(a: dict[str, Any]) -> str:
    icon = "FIRING" if a["state"] == "firing" else "RESOLVED"
    value = "" if a.get("value") is None else f" (value {a['value']:.4g}, threshold {a.get('threshold')})"
    return f"[{icon}] {a['severity']} {a['rule']} on {a['device']}{value}: {a.get('message') or ''}".strip()


class Notifier(Service):
    name = "aggregator-notify"

    def __init__(self, webhook_url: str = "", webhook_secret: bytes | None = None, chat_url: str = "",
                 smtp: dict[str, Any] | None = None, cooldown_s: float = 300.0, max_queue: int = 1000,
                 attempts: int = 5, backoff_s: float = 1.0, timeout_s: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        if webhook_url and not webhook_secret:
            raise ConfigError([("aggregator.webhook_secret_file", "required when aggregator.webhook_url is set")])
        self.webhook_url, self.secret, self.chat_url, self.smtp = webhook_url, webhook_secret, chat_url, smtp
        self.cooldown_s, self.attempts, self.backoff_s, self.timeout_s = cooldown_s, attempts, backoff_s, timeout_s
        self.clock = clock
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=max_queue)
        self._sent_ids: dict[tuple[str, str, str], float] = {}
        self._last_rule: dict[tuple[str, str, str], float] = {}
        self.stats = {"queued": 0, "delivered": 0, "failed": 0, "dropped": 0, "suppressed": 0}

    @classmethod
    def from_config(cls, cfg: Config) -> "Notifier | None":
        a = cfg.aggregator
        smtp = None
        if a.smtp_host:
            if not a.mail_to or not a.mail_from:
                raise ConfigError([("aggregator.mail_to", "mail_from and mail_to are needed with smtp_host")], cfg.source)
            smtp = {"host": a.smtp_host, "port": a.smtp_port, "starttls": a.smtp_starttls, "user": a.smtp_username,
                    "password": read_secret(cfg, "aggregator.smtp_password_file") if a.smtp_password_file else None,
                    "from": a.mail_from, "to": [x.strip() for x in a.mail_to.split(",") if x.strip()]}
        if not (a.webhook_url or a.chat_webhook_url or smtp):
            return None
        secret = read_secret(cfg, "aggregator.webhook_secret_file").encode() if a.webhook_secret_file else None
        if a.webhook_url and secret is None:
            raise ConfigError([("aggregator.webhook_secret_file", "required when aggregator.webhook_url is set")],
                              cfg.source)
        return cls(a.webhook_url, secret, a.chat_webhook_url, smtp, a.notify_cooldown_s)

    # -- intake (called on the MQTT thread: must not block) -----------------------------------
    def submit(self, alert: dict[str, Any]) -> bool:
        now = self.clock()
        key = (alert["device"], alert["alert_id"], alert["state"])
        rule_key = (alert["device"], alert["rule"], alert["state"])
        if key in self._sent_ids or now - self._last_rule.get(rule_key, -1e18) < self.cooldown_s:
            self.stats["suppressed"] += 1
            return False
        self._sent_ids[key] = now
        self._last_rule[rule_key] = now
        if len(self._sent_ids) > 10000:  # bounded memory: forget the oldest half
            for k in sorted(self._sent_ids, key=self._sent_ids.__getitem__)[:5000]:
                del self._sent_ids[k]
        while True:
            try:
                self.queue.put_nowait(alert)
                self.stats["queued"] += 1
                return True
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.stats["dropped"] += 1
                except queue.Empty:
                    pass

    # -- delivery ------------------------------------------------------------------------------
    def run(self) -> None:
        while not self._stop.is_set():
            try:
                alert = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            for name, fn in self.channels():
                try:
                    ok = self._deliver(name, fn, alert)
                except Exception:  # boundary: one alert a channel chokes on must not end notifications
                    log.exception("notify %s: giving up on %s", name, alert.get("alert_id"))
                    ok = False
                self.stats["delivered" if ok else "failed"] += 1

    def channels(self) -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
        out: list[tuple[str, Callable[[dict[str, Any]], None]]] = []
        if self.webhook_url:
            out.append(("webhook", self.send_webhook))
        if self.chat_url:
            out.append(("chat", self.send_chat))
        if self.smtp:
            out.append(("email", self.send_email))
        return out

    def _deliver(self, name: str, fn: Callable[[dict[str, Any]], None], alert: dict[str, Any]) -> bool:
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                fn(alert)
                return True
            except (OSError, urllib.error.URLError, http.client.HTTPException, smtplib.SMTPException,
                    ValueError) as exc:  # HTTPException: a reply that is not HTTP (BadStatusLine, ...)
                log.warning("notify %s: attempt %d/%d for %s failed: %s", name, attempt, self.attempts,
                            alert["alert_id"], exc)
            if attempt < self.attempts and self._stop.wait(delay):
                return False
            delay *= 2
        return False

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        req = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "nic-aggregator",
                                              **headers})
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 - operator-set URL
            if not 200 <= resp.status < 300:
                raise OSError(f"HTTP {resp.status}")

    def send_webhook(self, alert: dict[str, Any]) -> None:
        body = json.dumps({"event": "alert", **{k: alert.get(k) for k in (
            "device", "alert_id", "rule", "severity", "state", "value", "threshold", "ts", "message", "seq",
            "replayed")}, "text": text_of(alert)}, separators=(",", ":"), sort_keys=True).encode()
        ts = str(int(self.clock()))
        assert self.secret is not None
        self._post(self.webhook_url, body, {TS_HEADER: ts, SIG_HEADER: sign(self.secret, ts, body)})

    def send_chat(self, alert: dict[str, Any]) -> None:
        text = text_of(alert)
        # Slack reads "text", Discord reads "content"; each ignores the other's key.
        self._post(self.chat_url, json.dumps({"text": text, "content": text}).encode(), {})

    def send_email(self, alert: dict[str, Any]) -> None:
        s = self.smtp or {}
        msg = EmailMessage()
        msg["Subject"] = text_of(alert)[:200]
        msg["From"], msg["To"] = s["from"], ", ".join(s["to"])
        msg.set_content(text_of(alert) + "\n\n" + json.dumps(alert, indent=2, default=str))
        with smtplib.SMTP(s["host"], s["port"], timeout=self.timeout_s) as smtp:
            if s.get("starttls"):
                smtp.starttls()
            if s.get("user"):
                smtp.login(s["user"], s.get("password") or "")
            smtp.send_message(msg)
