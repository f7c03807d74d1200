"""Host side of the system test: the disk image, qemu standing in for the Pi, the guest agent.

Stands in for the Raspberry Pi firmware: reads ``config.txt`` (``kernel=``, ``initramfs``) and
``cmdline.txt`` from the image's FAT boot partition before every boot, as the Pi firmware does,
and boots that kernel with that command line under qemu (software emulation, TCG).
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

# The Pi kernel resolves console=serial0 to its UART; a generic kernel needs the real name.
SERIAL_ALIASES = {"amd64": {"serial0": "ttyS0"}, "arm64": {"serial0": "ttyAMA0"}}
# The emulated machine per arch. arm64 (on demand, NIC_SYSTEM_TEST=arm64): qemu's generic `virt`
# board with the Pi 4's CPU core (cortex-a72), not a Pi board model.
MACHINES = {
    "amd64": ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-cpu", "max"],
    "arm64": ["qemu-system-aarch64", "-machine", "virt", "-accel", "tcg", "-cpu", "cortex-a72"],
}
AGENT_PORT = "org.nic.system-test.0"
# The host's broker as the guest sees it: a guestfwd address on qemu's user network (10.0.2.2,
# the host alias, is refused by restrict=on, which keeps every other packet inside the VM).
MQTT_GUEST_ADDRESS = "10.0.2.100"
RELAY = Path(__file__).with_name("relay.py")  # one relay process per guest connection


# Lines for the end-of-run summary (tests/system/conftest.py): build log and figures.
SUMMARY = pytest.StashKey[list[str]]()


class GuestError(AssertionError):
    """A check on the guest failed; carries the console log tail for the report."""


class GuestHang(GuestError):
    """The emulated kernel reported a lockup or RCU stall and made no progress afterwards: a
    fault of the emulation (seen once in CI: two TCG vCPUs deadlocked in netlink while a module
    loaded), not of the image. The fixture power-cycles the guest once on it."""


# What the guest kernel prints when a CPU stops making progress.
KERNEL_HANG = re.compile(r"BUG: soft lockup|rcu: INFO: rcu_\w+ (?:self-)?detected stalls?|"
                         r"INFO: task \S+ blocked for more than")
# After the first such report the guest gets this long to recover before it counts as hung
# (under TCG on a starved host a stall report can be transient).
HANG_GRACE_S = 180


def boot_partition_offset(image: Path) -> int:
    table = json.loads(subprocess.run(["sfdisk", "-J", str(image)], check=True, capture_output=True,
                                      text=True).stdout)["partitiontable"]
    part = next(p for p in table["partitions"] if p["type"] in ("c", "b", "e"))
    return int(part["start"]) * int(table.get("sectorsize", 512))


def read_boot_file(image: Path, name: str) -> str:
    spec = f"{image}@@{boot_partition_offset(image)}"
    return subprocess.run(["mtype", "-i", spec, f"::{name}"], check=True, capture_output=True,
                          text=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout


def copy_boot_file(image: Path, name: str, dest: Path) -> Path:
    spec = f"{image}@@{boot_partition_offset(image)}"
    subprocess.run(["mcopy", "-o", "-i", spec, f"::{name}", str(dest)], check=True, capture_output=True,
                   env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    return dest


def firmware_boot_files(image: Path) -> tuple[str, str]:
    """(kernel, initramfs) named by config.txt, as the Pi firmware reads them."""
    kernel, initramfs = "kernel8.img", ""
    for line in read_boot_file(image, "config.txt").splitlines():
        line = line.strip()
        if line.startswith("kernel="):
            kernel = line.split("=", 1)[1].strip()
        elif line.startswith("initramfs "):
            initramfs = line.split()[1]
    return kernel, initramfs


def kernel_cmdline(image: Path, arch: str) -> str:
    line = read_boot_file(image, "cmdline.txt").strip()
    for alias, real in SERIAL_ALIASES[arch].items():
        line = re.sub(rf"\bconsole={alias}\b", f"console={real}", line)
    return line


class Qemu:
    """One boot of the image. The console goes to ``console.log``; the guest agent's
    virtio-serial port to a unix socket; HTTP port 8080 to 127.0.0.1:``http_port``; the guest
    reaches only the host's MQTT broker (``restrict=on``: nothing else leaves the VM), at
    ``MQTT_GUEST_ADDRESS``:1883."""

    def __init__(self, image: Path, workdir: Path, *, http_port: int, mqtt_port: int, name: str,
                 memory_mb: int = 1536, cpus: int = 2) -> None:
        self.image, self.dir, self.name = image, workdir, name
        self.console = workdir / f"console-{name}.log"
        self.agent_socket = workdir / f"agent-{name}.sock"
        self.http_port, self.mqtt_port = http_port, mqtt_port
        self.memory_mb, self.cpus = memory_mb, cpus
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.cmdline = ""
        self.hang_seen: float | None = None

    def start(self, arch: str = "amd64") -> None:
        kernel, initramfs = firmware_boot_files(self.image)
        k = copy_boot_file(self.image, kernel, self.dir / f"kernel-{self.name}")
        args = ["-kernel", str(k)]
        if initramfs:
            args += ["-initrd", str(copy_boot_file(self.image, initramfs, self.dir / f"initrd-{self.name}"))]
        self.cmdline = kernel_cmdline(self.image, arch)
        net = (f"user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:{self.http_port}-:8080,"
               f"guestfwd=tcp:{MQTT_GUEST_ADDRESS}:1883-cmd:{sys.executable} {RELAY} 127.0.0.1 {self.mqtt_port}")
        cmd = [*MACHINES[arch], "-m", str(self.memory_mb),
               "-smp", str(self.cpus), *args, "-append", self.cmdline,
               "-drive", f"file={self.image},format=raw,if=virtio,cache=unsafe",
               "-nic", net, "-device", "virtio-rng-pci",
               "-device", "virtio-serial-pci",
               "-chardev", f"socket,id=agent,path={self.agent_socket},server=on,wait=off",
               "-device", f"virtserialport,chardev=agent,name={AGENT_PORT}",
               "-serial", f"file:{self.console}", "-display", "none", "-monitor", "none", "-no-reboot"]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / f"qemu-{self.name}.err", "wb"))

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def console_text(self) -> str:
        try:
            return self.console.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def console_tail(self, lines: int = 80) -> str:
        err = self.dir / f"qemu-{self.name}.err"
        qerr = err.read_text(errors="replace").strip() if err.exists() else ""
        tail = "\n".join(self.console_text().splitlines()[-lines:])
        return (f"--- qemu stderr ---\n{qerr}\n" if qerr else "") + f"--- console tail ({self.console}) ---\n{tail}"

    def check_hang(self) -> None:
        """Raise GuestHang once the kernel has reported a lockup and ``HANG_GRACE_S`` passed."""
        if self.hang_seen is None:
            if KERNEL_HANG.search(self.console_text()):
                self.hang_seen = time.monotonic()
        elif time.monotonic() - self.hang_seen > HANG_GRACE_S:
            raise GuestHang(f"the guest kernel reported a lockup {HANG_GRACE_S} s ago and the guest "
                            "agent still does not answer\n" + self.console_tail())

    def wait_console(self, pattern: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            if rx.search(self.console_text()):
                return True
            if not self.running():
                return False
            time.sleep(1)
        return False


class Agent:
    """Runs shell commands in the guest through the TEST ONLY agent (tests/system/guest/)."""

    def __init__(self, vm: Qemu) -> None:
        self.vm = vm
        self.sock: socket.socket | None = None
        self.buf = b""
        self.seq = 0

    def connect(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.vm.running():
                raise GuestError("qemu exited while waiting for the guest agent\n" + self.vm.console_tail())
            self.vm.check_hang()
            try:
                self.run("true", timeout=20)
                return
            except (OSError, TimeoutError):
                self.close()
                time.sleep(3)
        raise GuestError(f"guest agent did not answer within {timeout:.0f} s\n" + self.vm.console_tail())

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buf = b""

    def run(self, command: str, timeout: float = 120) -> tuple[int, str]:
        if self.sock is None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(str(self.vm.agent_socket))
        self.seq += 1
        tag = f"c{self.seq}"
        self.sock.sendall(f"{tag}\t{command}\n".encode())
        end = re.compile(rb"(?:^|\n)__NIC_END__ " + tag.encode() + rb" (\d+)\n")
        deadline = time.monotonic() + timeout
        while True:
            m = end.search(self.buf)
            if m:
                out = self.buf[:m.start()].decode(errors="replace")
                self.buf = self.buf[m.end():]
                # Output of an earlier, abandoned command may precede ours: keep what follows its end.
                out = re.split(r"__NIC_END__ \S+ \d+\n", out)[-1]
                return int(m.group(1)), out
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"guest command timed out after {timeout:.0f} s: {command}")
            ready, _, _ = select.select([self.sock], [], [], min(left, 1.0))
            if ready:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise OSError("agent socket closed")
                self.buf += chunk

    def check(self, command: str, timeout: float = 120) -> str:
        rc, out = self.run(command, timeout)
        if rc != 0:
            raise GuestError(f"guest command failed ({rc}): {command}\n{out}\n" + self.vm.console_tail(40))
        return out


def require_host_tools(arch: str = "amd64") -> list[str]:
    return [t for t in (MACHINES[arch][0], "debootstrap", "sfdisk", "mcopy", "mtype", "mkfs.vfat", "mke2fs")
            if shutil.which(t) is None and not Path("/usr/sbin", t).exists()]
