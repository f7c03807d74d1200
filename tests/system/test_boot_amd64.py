"""The appliance, booted: SD-card image -> install.sh in the chroot -> `nic-fleet flash` ->
first boot under qemu -> an answering box reporting to the fleet broker (issue 21).

Runs only with NIC_SYSTEM_TEST set (`bash tools/test.sh --system`). The tests share one booted
box and run in file order; a failure shows the guest console's tail. Figures (boot, READY,
/healthz 200, first answer) are printed at the end and written to <workdir>/figures.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.broker import Broker, Subscriber, find_mosquitto, free_port
from tests.system.vm import (MQTT_GUEST_ADDRESS, SUMMARY, Agent, GuestError, GuestHang, Qemu, read_boot_file,
                              require_host_tools)

REPO = Path(__file__).resolve().parents[2]
DEVICE = "sys-amd64"
# Bounds for TCG on 2 shared cores (KVM is not usable here): generous, every wait is bounded.
FIRST_BOOT_S = 900      # first boot runs the hook and reboots (qemu exits: -no-reboot)
AGENT_S = 900           # second boot up to multi-user
HEALTHY_S = 1200        # second boot start -> /healthz 200 (model load, indexing the manual)
WATCHDOG_S = 420        # kill -STOP -> systemd's watchdog restart (WatchdogSec=60)
# One vCPU: with two, TCG once deadlocked the guest kernel (both vCPUs spinning in netlink
# while a module loaded, "soft lockup ... stuck for 816s") on a loaded CI host. The checks do
# not depend on the CPU count (the tier is set in device.toml).
CPUS = 1

MANUAL = """\
BILGE PUMP MODEL BP-40: OPERATOR MANUAL

Section 1: Priming the pump

Before the first start, open the bleed screw on top of the pump housing, fill the housing
with clean water through the priming port until water comes out of the bleed screw, then
close the bleed screw hand-tight. Never run the pump dry: the shaft seal is destroyed within
thirty seconds without water.

Section 2: Replacing the impeller

Shut off the supply valve and disconnect the power lead. Remove the six cover screws and pull
the impeller out with impeller pliers. Fit the new impeller with its vanes bent clockwise and
smear glycerine on the cover gasket before refitting the cover.

Section 3: Fuse rating

The pump motor is protected by a 15 ampere slow-blow fuse in the control box. Replace a blown
fuse only with the same rating.
"""


def _get(port: int, path: str, timeout: float = 20) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _post(port: int, path: str, body: dict[str, Any], timeout: float = 300) -> tuple[int, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


class Box:
    """The booted guest and what the test learnt on the way."""

    def __init__(self, workdir: Path, image: Path, broker: Broker, sub: Subscriber, original_cmdline: str,
                 arch: str = "amd64", device: str = DEVICE, memory_mb: int = 1536, cpus: int = CPUS) -> None:
        self.dir, self.image, self.broker, self.sub = workdir, image, broker, sub
        self.original_cmdline = original_cmdline
        self.arch, self.device, self.memory_mb, self.cpus = arch, device, memory_mb, cpus
        self.http_port = free_port()
        self.vm: Qemu | None = None
        self.agent: Agent | None = None
        self.figures: dict[str, Any] = {}
        self.first_boot_console = ""
        self.cmdline_after_first_boot = ""

    def boot(self, name: str) -> Qemu:
        self.vm = Qemu(self.image, self.dir, http_port=self.http_port, mqtt_port=self.broker.port, name=name,
                       memory_mb=self.memory_mb, cpus=self.cpus)
        self.vm.start(self.arch)
        return self.vm

    def wait_healthy(self, timeout: float) -> float:
        assert self.vm is not None
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.vm.running():
                raise GuestError("qemu exited while waiting for /healthz\n" + self.vm.console_tail())
            self.vm.check_hang()
            try:
                status, body = _get(self.http_port, "/healthz", timeout=10)
                last = f"{status} {body[:200]!r}"
                if status == 200:
                    return self.vm.elapsed()
            except OSError as exc:
                last = str(exc)
            time.sleep(3)
        raise GuestError(f"/healthz not 200 within {timeout:.0f} s (last: {last})\n" + self.guest_log())

    def guest_log(self) -> str:
        if self.agent is None:
            return self.vm.console_tail() if self.vm else ""
        try:
            return self.agent.run("systemctl status --no-pager nic-edge; journalctl -u nic-edge -n 60 --no-pager",
                                  timeout=60)[1]
        except (OSError, TimeoutError) as exc:
            return f"(guest log unavailable: {exc})\n" + (self.vm.console_tail() if self.vm else "")

    def unit(self, *props: str) -> dict[str, str]:
        assert self.agent is not None
        out = self.agent.check("systemctl show nic-edge.service -p " + ",".join(props))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Box]:
    yield from booted_box(tmp_path_factory, request, arch="amd64", device=DEVICE, memory_mb=1536,
                          cpus=CPUS, first_boot_s=FIRST_BOOT_S, agent_s=AGENT_S)


def booted_box(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, *, arch: str,
               device: str, memory_mb: int, cpus: int, first_boot_s: float, agent_s: float) -> Iterator[Box]:
    """Build (or take from the cache) the image, flash it, run the first boot, boot it again and
    yield the box once its guest agent answers. Shared with the arm64 variant."""
    if os.geteuid() != 0:
        pytest.skip("the system test needs root (debootstrap, chroot)")
    missing = require_host_tools(arch)
    mosquitto = find_mosquitto()
    if missing or mosquitto is None:
        pytest.fail(f"missing host tools: {missing + ([] if mosquitto else ['mosquitto'])} "
                    "(bash tools/test.sh --system installs them)")
    work = tmp_path_factory.mktemp(f"system-{arch}")
    summary = request.config.stash.setdefault(SUMMARY, [])

    def say(text: str) -> None:
        summary.append(f"system: {text}")

    t0 = time.monotonic()
    built = subprocess.run(["bash", str(REPO / "tools/system/build_image.sh"), arch],
                           capture_output=True, text=True, timeout=3600)
    if built.returncode != 0:
        pytest.fail(f"image build failed:\n{built.stderr[-6000:]}")
    for line in built.stderr.splitlines():
        say(line)
    base = Path(built.stdout.strip().splitlines()[-1])
    figures: dict[str, Any] = {"image_build_s": round(time.monotonic() - t0, 1)}

    image = work / "sd.img"
    subprocess.run(["cp", "--sparse=always", str(base), str(image)], check=True)
    original_cmdline = read_boot_file(image, "cmdline.txt").strip()

    broker = Broker(work / "broker", mosquitto)
    broker.start()
    sub = Subscriber(broker, [f"nic/{device}/#"])
    # The device's files, flashed from the host as an integrator would.
    ws = work / "ws"
    (ws / "manuals").mkdir(parents=True)
    (ws / "manuals" / "bilge-pump-bp40.txt").write_text(MANUAL)
    (ws / "device.toml").write_text(
        f'[device]\nid = "{device}"\ntier = "lite"\n[http]\nbind = "0.0.0.0"\nport = 8080\n'
        f'[mqtt]\nhost = "{MQTT_GUEST_ADDRESS}"\nport = 1883\nmetrics_interval_s = 15\n')
    fleet = [str(Path(sys.executable).parent / "nic-fleet")]
    subprocess.run([*fleet, "keygen", "--out", str(ws / "fleet.key")], check=True, capture_output=True)
    subprocess.run([*fleet, "keygen", "--signing", "--out", str(ws / "signing.key")], check=True, capture_output=True)
    (ws / "fleet.toml").write_text(f'[fleet]\nkey_file = "{ws / "fleet.key"}"\n'
                                   f'signing_key_file = "{ws / "signing.key"}"\n')
    fleet += ["--config", str(ws / "fleet.toml")]
    # The manual's index built once on the host and flashed with the card (defect 1): the box
    # applies it at its first start instead of embedding the manual itself.
    t = time.monotonic()
    built = subprocess.run([*fleet, "content", "build", str(ws / "manuals" / "bilge-pump-bp40.txt"),
                            "--out", str(ws / "manuals.nicb")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    figures["content_build_s"] = round(time.monotonic() - t, 2)
    t = time.monotonic()
    flashed = subprocess.run([*fleet, "flash", "--image", str(image), "--device-config", str(ws / "device.toml"),
                              "--manuals", str(ws / "manuals"), "--content", str(ws / "manuals.nicb")],
                             capture_output=True, text=True)
    assert flashed.returncode == 0, flashed.stderr
    figures["flash_s"] = round(time.monotonic() - t, 2)

    b = Box(work, image, broker, sub, original_cmdline, arch=arch, device=device, memory_mb=memory_mb, cpus=cpus)
    b.figures = figures
    try:
        # Boot 1: the hook runs from systemd.run= and the box reboots (qemu exits).
        vm = b.boot("firstboot")
        assert "nic-edge/firstboot.sh" in vm.cmdline, vm.cmdline
        rc = None
        deadline = time.monotonic() + first_boot_s
        while rc is None and time.monotonic() < deadline:
            rc = vm.wait_exit(min(10.0, max(0.1, deadline - time.monotonic())))
            if rc is None:
                try:
                    vm.check_hang()
                except GuestHang:  # not retried: a cut first boot is a different test
                    vm.kill()
                    raise
        if rc is None:
            vm.kill()
            pytest.fail(f"first boot did not reboot within {first_boot_s:.0f} s\n" + vm.console_tail())
        if rc != 0:  # -no-reboot: a guest reboot exits 0; anything else is qemu failing
            pytest.fail(f"qemu failed in the first boot (exit {rc})\n" + vm.console_tail())
        figures["first_boot_s"] = round(vm.elapsed(), 1)
        b.first_boot_console = vm.console_text()
        b.cmdline_after_first_boot = read_boot_file(image, "cmdline.txt").strip()
        # Boot 2: a normal boot with the restored command line.
        vm = b.boot("boot2")
        b.agent = Agent(vm)
        try:
            b.agent.connect(agent_s)
        except GuestHang as exc:
            # The emulation hung, not the image: power-cycle once (the appliance must survive
            # a power cut anyway) and say so in the summary.
            say(f"boot2 hung in the emulated kernel after {vm.elapsed():.0f} s; power-cycled once: "
                + str(exc).splitlines()[0])
            vm.kill()
            b.agent.close()
            vm = b.boot("boot2-retry")
            b.agent = Agent(vm)
            b.agent.connect(agent_s)
        figures["boot_to_agent_s"] = round(vm.elapsed(), 1)
        yield b
    finally:
        figures["total_s"] = round(time.monotonic() - t0, 1)
        (work / "figures.json").write_text(json.dumps(figures, indent=1))
        say("figures " + json.dumps(figures) + f" (logs in {work})")
        if b.vm is not None and b.vm.running():
            try:
                if b.agent is not None:
                    b.agent.run("systemctl --no-block poweroff", timeout=30)
            except (OSError, TimeoutError):
                pass
            if b.vm.wait_exit(180) is None:
                b.vm.kill()
        if b.agent is not None:
            b.agent.close()
        sub.close()
        broker.stop()
        image.unlink(missing_ok=True)  # logs stay; the 2 GB card image does not


def test_first_boot_applied(box: Box) -> None:
    assert box.cmdline_after_first_boot == box.original_cmdline, "cmdline.txt not restored"
    a = box.agent
    assert a is not None
    # Files and modes: /etc/nic-edge 0750 root:nic-edge, secrets 0600 nic-edge, manuals moved.
    listing = a.check("stat -c '%a %U:%G %n' /etc/nic-edge /etc/nic-edge/device.toml /etc/nic-edge/device.key "
                      "/var/lib/nic-edge/manuals /var/lib/nic-edge/manuals/bilge-pump-bp40.txt")
    modes = {line.split()[2]: tuple(line.split()[:2]) for line in listing.splitlines()}
    assert modes["/etc/nic-edge"] == ("750", "root:nic-edge"), listing
    assert modes["/etc/nic-edge/device.key"] == ("600", "nic-edge:nic-edge"), listing
    assert modes["/var/lib/nic-edge/manuals/bilge-pump-bp40.txt"][0] == "640", listing
    # The flashed prebuilt index waits in the data dir for the service (or is applied already).
    content = a.check("stat -c '%a %U:%G' /var/lib/nic-edge/content").split()
    assert content == ["750", "nic-edge:nic-edge"], content
    # Only the hook stays on the FAT partition; no secret left there.
    assert a.check("ls -A /boot/firmware/nic-edge").split() == ["firstboot.sh"]
    assert a.check("systemctl is-enabled nic-edge.service").strip() == "enabled"
    journal = a.check("journalctl -b -1 --no-pager -o cat -t nic-edge-firstboot; "
                      "journalctl -b -1 --no-pager -o cat -u kernel-command-line.service")
    assert "bundle installed into /etc/nic-edge" in journal, journal
    assert "nic-edge.service was already enabled" in journal or "enabled nic-edge.service" in journal, journal


def test_ready_and_healthz(box: Box) -> None:
    assert box.vm is not None
    box.figures["healthz_200_s"] = round(box.wait_healthy(HEALTHY_S), 1)
    unit = box.unit("ActiveState", "SubState", "StatusText", "Type", "ExecMainStartTimestampMonotonic")
    assert unit["ActiveState"] == "active" and unit["SubState"] == "running", unit
    # READY=1 reached systemd (Type=notify is "activating" until then).
    assert unit["Type"] == "notify"
    # bind 0.0.0.0: the status names the box's own address, not loopback (defect 4). The DHCP
    # lease may come after READY: the watchdog ping (every 30 s) refreshes the text.
    deadline = time.monotonic() + 180
    while "10.0.2.15:8080" not in unit["StatusText"] and time.monotonic() < deadline:
        time.sleep(5)
        unit = box.unit("StatusText")
    assert "127.0.0.1" not in unit["StatusText"] and "10.0.2.15:8080" in unit["StatusText"], unit


def test_flashed_manual_answered_with_citation(box: Box) -> None:
    box.wait_healthy(120)
    t = time.monotonic()
    status, answer = _post(box.http_port, "/api/ask", {"question": "What fuse protects the pump motor?"})
    box.figures["first_answer_s"] = round(time.monotonic() - t, 1)
    assert status == 200, answer
    assert not answer["abstained"], answer
    assert answer["citations"] and answer["citations"][0]["source"] == "bilge-pump-bp40.txt", answer
    assert "15 ampere" in answer["answer"], answer
    # The flashed manual is the only one: the bundled sample was not indexed (defect 1), and it
    # came as the flashed prebuilt index, not embedded on the box.
    status = json.loads(_get(box.http_port, "/api/status")[1])
    index = status["index"]
    assert index["sources"] == 1 and index["vectors"], index
    assert status["content"]["applied_version"] is not None, status["content"]
    assert status["content"]["last_report"]["status"] == "applied", status["content"]
    assert box.agent is not None
    journal = box.agent.check("journalctl -b --no-pager -o cat -u nic-edge.service")
    assert "flashed content version" in journal, journal
    assert "indexing the bundled sample" not in journal and "not indexed yet" not in journal, journal


def test_reports_to_the_fleet_broker(box: Box) -> None:
    sub, device = box.sub, box.device
    ok = sub.wait_for(lambda ms: any(m.topic.endswith("/metrics") for m in ms), timeout=180)
    assert ok, f"no metrics snapshot on nic/{device}/metrics: {[m.topic for m in sub.messages]}"
    status = [m for m in sub.on_topic(f"{device}/status")]
    assert status and status[-1].payload == b"online", status
    info = sub.on_topic(f"{device}/info")
    assert info, "no info message"
    assert json.loads(info[-1].payload)["tier"], info[-1].payload
    metrics = json.loads(sub.on_topic(f"{device}/metrics")[-1].payload)
    assert {"seq", "ts", "replayed"} <= set(metrics), metrics
    # status and info are retained: a subscriber arriving now gets them at once.
    late = Subscriber(box.broker, [f"nic/{device}/status", f"nic/{device}/info"])
    try:
        assert late.wait_for(lambda ms: len({m.topic for m in ms if m.retain}) == 2, timeout=30), late.messages
    finally:
        late.close()


def test_watchdog_restarts_a_stopped_process(box: Box) -> None:
    before = box.unit("MainPID", "NRestarts")
    pid = int(before["MainPID"])
    assert pid > 0, before
    box.agent.check(f"kill -STOP {pid}")  # type: ignore[union-attr]
    stopped = time.monotonic()
    deadline = stopped + WATCHDOG_S
    now = before
    while time.monotonic() < deadline:
        now = box.unit("MainPID", "NRestarts", "Result", "ActiveState")
        if int(now["NRestarts"]) > int(before["NRestarts"]) and now["MainPID"] not in ("0", str(pid)):
            break
        time.sleep(5)
    else:
        raise GuestError(f"no watchdog restart within {WATCHDOG_S} s: {now}\n" + box.guest_log())
    box.figures["watchdog_stop_to_restart_s"] = round(time.monotonic() - stopped, 1)
    journal = box.agent.check("journalctl -b --no-pager -o cat -u nic-edge.service")  # type: ignore[union-attr]
    assert "Watchdog timeout" in journal and "watchdog" in journal.lower(), journal[-3000:]
    t = time.monotonic()
    box.wait_healthy(HEALTHY_S)
    box.figures["watchdog_restart_to_healthz_s"] = round(time.monotonic() - t, 1)


def test_clean_stop(box: Box) -> None:
    a = box.agent
    assert a is not None
    t = time.monotonic()
    a.check("systemctl stop nic-edge.service", timeout=180)
    box.figures["stop_s"] = round(time.monotonic() - t, 1)
    unit = box.unit("ActiveState", "Result", "ExecMainStatus")
    assert unit["ActiveState"] == "inactive" and unit["Result"] == "success", unit
    journal = a.check("journalctl -b --no-pager -o cat -u nic-edge.service -n 40")
    assert "SIGKILL" not in journal and "timed out" not in journal.split("Stopping")[-1], journal
    assert box.sub.wait_for(lambda ms: any(m.topic.endswith("/status") and m.payload == b"offline" for m in ms),
                            timeout=60), "no retained 'offline' after a clean stop"
