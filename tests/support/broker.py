"""A real mosquitto broker on a free loopback port, plus a collecting subscriber.

Fixtures: ``mosquitto`` (plain, anonymous), ``mosquitto_tls`` (TLS with a CA + server cert made
by the ``openssl`` CLI, and a password file made by ``mosquitto_passwd``), ``broker_factory``
(any combination, e.g. persistence for outage tests), ``subscriber_factory``.
``Broker`` has no pytest dependency so tools/ benchmarks reuse it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

USERNAME, PASSWORD = "nic-device", "s3cret-Pa55"


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for cand in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(cand, os.X_OK):
            return cand
    return None


def terminate(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL (shared by the server fixtures)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_tls_files(directory: Path) -> dict[str, Path]:
    """CA, server cert (SAN 127.0.0.1/localhost) and a client cert, via the openssl CLI."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run(["openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
          "-subj", "/CN=nic-test-ca"], d)
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn in (("server", "localhost"), ("client", "nic-device")):
        _run(["openssl", "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
              "-subj", f"/CN={cn}"], d)
        extra = ["-extfile", "san.cnf"] if name == "server" else []
        _run(["openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
              "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", *extra], d)
    return {k: d / k for k in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}


class Broker:
    """One mosquitto process; ``stop()``/``start()`` restart it on the SAME port."""

    def __init__(self, workdir: Path, binary: str, *, tls: dict[str, Path] | None = None,
                 password: bool = False, persistence: bool = False, port: int | None = None) -> None:
        self.binary = binary
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.tls = tls
        self.ca_file = tls["ca.crt"] if tls else None
        self.username = USERNAME if password else None
        self.password = PASSWORD if password else None
        self.password_file: Path | None = None
        self.persistence = persistence
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_file = self.dir / "mosquitto.log"
        self._write_config()

    def _write_config(self) -> None:
        lines = [f"listener {self.port} {self.host}", "log_dest file " + str(self.log_file),
                 "log_type error", "log_type warning", "log_type notice",
                 f"persistence {'true' if self.persistence else 'false'}",
                 f"persistence_location {self.dir}/", "autosave_interval 1",
                 "max_queued_messages 100000"]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to 'mosquitto' and cannot read tmp
        if self.tls:
            lines += [f"cafile {self.tls['ca.crt']}", f"certfile {self.tls['server.crt']}",
                      f"keyfile {self.tls['server.key']}"]
        if self.password:
            self.password_file = self.dir / "passwd"
            self.password_file.write_text("")
            subprocess.run(["mosquitto_passwd", "-b", str(self.password_file), USERNAME, PASSWORD],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            lines += [f"password_file {self.password_file}", "allow_anonymous false"]
        else:
            lines.append("allow_anonymous true")
        self.config = self.dir / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.proc = subprocess.Popen([self.binary, "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                log = self.log_file.read_text() if self.log_file.exists() else ""
                raise RuntimeError(f"mosquitto exited: {err} {log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout}s")

    def stop(self) -> None:
        """SIGTERM (mosquitto saves its persistence file on the way out), then wait."""
        if self.proc is None:
            return
        terminate(self.proc, 5)
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def client_settings(self) -> dict[str, Any]:
        """The ``[mqtt]`` config keys a device needs to reach this broker."""
        out: dict[str, Any] = {"host": self.host, "port": self.port}
        if self.tls:
            out.update(tls=True, ca_file=str(self.ca_file))
        if self.password:
            pw = self.dir / "device.password"
            pw.write_text(self.password + "\n")
            out.update(username=self.username, password_file=str(pw))
        return out


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool
    at: float = field(default_factory=time.monotonic)


class Subscriber:
    """A paho client collecting every message on ``topics`` (QoS 1) in a thread-safe list."""

    def __init__(self, broker: Broker, topics: list[str], *, client_id: str = "",
                 persistent: bool = False) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[Message] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.topics = topics
        # A persistent session (fixed id, clean_session False) keeps QoS 1 messages queued at
        # the broker while this subscriber reconnects.
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"test-sub-{os.getpid()}-{id(self)}",
                                  clean_session=not persistent)
        if broker.tls:
            self.client.tls_set(ca_certs=str(broker.ca_file))
        if broker.username:
            self.client.username_pw_set(broker.username, broker.password)
        self.client.reconnect_delay_set(0.05, 0.2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("subscriber did not get SUBACK")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if not rc.is_failure:
            client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self._cond:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def wait_for(self, pred: Callable[[list[Message]], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
            return True

    def on_topic(self, suffix: str) -> list[Message]:
        with self._cond:
            return [m for m in self.messages if m.topic.endswith(suffix)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture(scope="session")
def mosquitto_bin() -> str:
    binary = find_mosquitto()
    if binary is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto); MQTT integration tests skipped")
    return binary


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("openssl") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("openssl or mosquitto_passwd missing; TLS broker tests skipped")
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def broker_factory(tmp_path: Path, mosquitto_bin: str) -> Iterator[Callable[..., Broker]]:
    made: list[Broker] = []

    def make(tls: dict[str, Path] | None = None, password: bool = False,
             persistence: bool = False) -> Broker:
        b = Broker(tmp_path / f"broker{len(made)}", mosquitto_bin, tls=tls, password=password,
                   persistence=persistence)
        made.append(b)
        b.start()
        return b

    yield make
    for b in made:
        b.stop()


@pytest.fixture
def mosquitto(broker_factory: Callable[..., Broker]) -> Broker:
    return broker_factory()


@pytest.fixture
def mosquitto_tls(broker_factory: Callable[..., Broker], tls_files: dict[str, Path]) -> Broker:
    return broker_factory(tls=tls_files, password=True)


@pytest.fixture
def subscriber_factory() -> Iterator[Callable[..., Subscriber]]:
    made: list[Subscriber] = []

    def make(broker: Broker, topics: list[str], **kw: Any) -> Subscriber:
        s = Subscriber(broker, topics, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
