#!/usr/bin/env python3
"""Fuzz the nic-edge HTTP API over raw sockets (loopback only).

Sends random methods, paths, headers, bodies, broken request lines and random bytes, and
reports status counts. Any 5xx or a dead server is a failure (exit 1). Used by
tests/http/test_fuzz.py and runnable against a live box:

    python3 tools/fuzz_http.py --url http://127.0.0.1:8080 --requests 10000 --threads 8
"""

from __future__ import annotations

import argparse
import json
import random
import re
import socket
import sys
import threading
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

PATHS = ["/", "/ask", "/healthz", "/api/status", "/metrics", "/api/ask", "/api/retrieve", "/api/alerts",
         "/api/cache/clear", "/api/tier", "/api", "/nope", "/api/ask/", "//api//ask", "/healthz?x=1",
         "/%00", "/..%2f..%2fetc/passwd", "/\u00e9", "*", "http://h/api/status", "http://[::1", "",
         "/" + "a" * 3000, "/api/status#frag", "/?q=" + "%" * 50]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "BREW",
           "get", "G ET", "", "\x00", "POST" * 20]
VERSIONS = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "HTTP/1.1 x", "FOO", "", "HTTP/1.10", "HTTP/9"]
HEADER_NAMES = ["Content-Type", "Content-Length", "Authorization", "Expect", "Transfer-Encoding", "Host",
                "Connection", "X-Junk", "Accept", "Cookie", ""]
STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3})", re.M)


def _rand_text(rng: random.Random, n: int) -> str:
    alphabet = "abc xyz?!\u00e9\u4e2d\x00\x01\x7f\t\n\r\"\\{}[]<>&%" + "\ud800"
    return "".join(rng.choice(alphabet) for _ in range(n))


def _json_body(rng: random.Random) -> bytes:
    choices = [
        lambda: {"question": _rand_text(rng, rng.randint(0, 60))},
        lambda: {"question": "How do I start the engine?", "top_k": rng.choice([1, 5, 0, -3, 101, True, "2", None, 2.5])},
        lambda: {"query": rng.choice(["spark", "", 7, None, ["x"]]), "k": rng.choice([1, 3, "x", 10**30])},
        lambda: {"tier": rng.choice(["lite", "ultra_lite", "bogus", None, 5, ""])},
        lambda: {"question": "x" * rng.choice([1999, 2001, 5000])},
        lambda: rng.choice([[], "str", 1, None, True, {"question": {"nested": 1}}]),
    ]
    try:
        return json.dumps(rng.choice(choices)(), ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError):
        return b"{}"


def make_request(rng: random.Random) -> bytes:
    """One random request as raw bytes."""
    kind = rng.random()
    if kind < 0.08:  # random bytes
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
    if kind < 0.14:  # broken request line
        return rng.choice([b"\r\n", b"GET\r\n\r\n", b"GET /\r\n", b" / HTTP/1.1\r\n\r\n",
                           b"GET / HTTP/1.1", b"GET /" + b"x" * 70000 + b" HTTP/1.1\r\n\r\n",
                           b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", b"GET / HTTP/1.1\n\n",
                           b"POST /api/ask HTTP/1.1\r\nContent-Length: 5\r\n\r\n{\"q\""])
    method = rng.choice(METHODS) if rng.random() < 0.5 else rng.choice(["GET", "POST", "HEAD"])
    path = rng.choice(PATHS)
    if rng.random() < 0.2:
        path += "?" + urllib.parse.quote(_rand_text(rng, 10), safe="", errors="surrogatepass")
    version = rng.choice(VERSIONS) if rng.random() < 0.2 else "HTTP/1.1"
    body = b""
    if method == "POST" or rng.random() < 0.1:
        r = rng.random()
        if r < 0.55:
            body = _json_body(rng)
        elif r < 0.7:
            body = ("question=" + urllib.parse.quote(_rand_text(rng, 20), errors="surrogatepass")).encode()
        elif r < 0.85:
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        else:
            body = b"[" * rng.randint(1, 20000)
    headers: list[tuple[str, str]] = []
    if body or rng.random() < 0.3:
        length = len(body)
        cl = rng.choice([str(length)] * 6 + [str(length + 5), str(max(0, length - 3)), "-1", "abc", "1e3",
                                            "99999999999", " " + str(length), str(length) + ", " + str(length)])
        if rng.random() < 0.9:
            headers.append(("Content-Length", cl))
    for _ in range(rng.randint(0, 4)):
        name = rng.choice(HEADER_NAMES)
        value = rng.choice(["Bearer s3cret", "Bearer wrong", "application/json", "100-continue", "chunked",
                            "keep-alive", _rand_text(rng, rng.randint(0, 30)).replace("\r", "").replace("\n", "")])
        headers.append((name, value))
    if rng.random() < 0.02:
        headers.extend((f"X-{i}", "y") for i in range(120))
    head = f"{method} {path} {version}".rstrip() + "\r\n"
    head += "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    return head.encode("utf-8", "surrogatepass") + body


def send(host: str, port: int, data: bytes, timeout: float = 15.0) -> list[int]:
    """Send one request (half-closing so a short body cannot stall), return the status codes seen."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer before reading everything
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return [int(m) for m in STATUS.findall(b"".join(chunks)[:4096])]


def run(host: str, port: int, requests: int, threads: int = 8, seed: int = 1) -> Counter:
    """Fire ``requests`` random requests from ``threads`` clients; return a Counter of final statuses
    (``None`` = no status line, e.g. an empty request line that the server just closes)."""
    counts: Counter = Counter()
    lock = threading.Lock()

    def worker(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        local: Counter = Counter()
        for _ in range(requests // threads + (1 if i < requests % threads else 0)):
            codes = send(host, port, make_request(rng))
            local[codes[-1] if codes else None] += 1
        with lock:
            counts.update(local)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--requests", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    url = urllib.parse.urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    if host not in ("127.0.0.1", "localhost", "::1"):
        print("fuzz_http: loopback targets only", file=sys.stderr)
        return 2
    counts = run(host, port, max(1, min(args.requests, 1_000_000)), max(1, min(args.threads, 64)), args.seed)
    for code, n in sorted(counts.items(), key=lambda kv: str(kv[0])):
        print(f"{code}\t{n}")
    bad = sum(n for code, n in counts.items() if code is not None and code >= 500)
    alive = send(host, port, b"GET /healthz HTTP/1.1\r\n\r\n")
    print(f"5xx: {bad}; /healthz after: {alive}")
    return 1 if bad or not alive or alive[-1] >= 500 else 0


if __name__ == "__main__":
    sys.exit(main())
