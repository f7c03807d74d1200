"""nic-fleet flash killed at every step (os._exit in a forked child: no cleanup runs, as with
SIGKILL or the PC losing power) while re-flashing a card that is already flashed and hooked.

After each kill the card must be one that boots safely: the boot line still names the hook and
the hook's script is there, complete; first boot (the card's own firstboot.sh, run against a fake
root) installs either the old bundle or the new one, never a mix, or refuses with a message that
says to flash again and takes its hook out (no reboot loop). A second flash then finishes the job
and leaves exactly what an uninterrupted flash leaves."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from nic_edge.core.signing import generate_key, write_key
from nic_edge.fleet.provision import cli
from nic_edge.fleet.provision.cli import add_flash_arguments, flash_main
from tests.fleet.provision_support import BOOKWORM_CMDLINE, CONFIG_TXT
from tests.fleet.test_provision_firstboot import snapshot

HOOK = "nic-edge/firstboot.sh"
KILLED = 77
# The calls that change a directory tree: the child dies just before the Nth of them.
STEPS = ("open", "replace", "rename", "unlink", "remove", "rmdir", "mkdir")


def _args(ws: Path, boot: Path, which: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_flash_arguments(parser)
    return parser.parse_args(["--boot", str(boot), "--device-config", str(ws / f"{which}.toml"),
                              "--fleet-key", str(ws / "fleet.key"), "--manuals", str(ws / f"manuals-{which}")])


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """Two configs (old, new) for one box, each with its own manuals; the old one is large so
    that, on a card that claims no free space, only one bundle fits at a time."""
    ws = tmp_path / "ws"
    ws.mkdir()
    write_key(ws / "fleet.key", generate_key())
    for which, host, size in (("old", "broker-a", 100 << 10), ("new", "broker-b", 3 << 10)):
        (ws / f"{which}.pass").write_text(f"{which}-secret\n")
        (ws / f"{which}.toml").write_text(f'[device]\nid = "truck-07"\n[mqtt]\nhost = "{host}"\n'
                                          f'username = "u"\npassword_file = "{which}.pass"\n')
        (ws / f"manuals-{which}").mkdir()
        (ws / f"manuals-{which}" / f"{which}.txt").write_bytes(random.Random(size).randbytes(size))
    return ws


def _card(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "cmdline.txt").write_text(BOOKWORM_CMDLINE)
    (path / "config.txt").write_text(CONFIG_TXT)
    return path


def in_child(run: Callable[[], int]) -> int:
    """Run ``run`` in a forked child and return its exit status; the child never unwinds into
    pytest (it ends with os._exit whatever happens)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            code = run()
        except BaseException:  # noqa: BLE001 - the status says it
            code = 71
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def killer(step: int, sig: int | None = None) -> Callable[[], None]:
    """A tick per change; the ``step``-th tick ends the process at once (no cleanup runs), or
    with ``sig`` sends it that signal (its handler runs as it would for a ``kill``)."""
    count = [0]

    def tick() -> None:
        count[0] += 1
        if count[0] == step:
            if sig is None:
                os._exit(KILLED)
            os.kill(os.getpid(), sig)
    return tick


def _killed_at(step: int, card: Path, run: Callable[[], int], sig: int | None = None) -> int:
    """``run`` in a child that dies just before its ``step``-th change under ``card`` (a file
    created, renamed or deleted, a directory made or removed, rmtree's steps included)."""
    def child() -> int:
        tick, top = killer(step, sig), str(card)

        def counting(name: str, real: Any) -> Any:
            def call(*a: Any, **kw: Any) -> Any:
                if name == "open" and not (len(a) > 1 and a[1] & os.O_CREAT):
                    return real(*a, **kw)
                if "dir_fd" in kw or (a and os.fspath(a[0]).startswith(top)):
                    tick()
                return real(*a, **kw)
            return call

        for name in STEPS:
            setattr(os, name, counting(name, getattr(os, name)))
        return run()
    return in_child(child)


def first_boot(card: Path, root: Path) -> tuple[int, str]:
    """The card's own firstboot.sh, as systemd.run= starts it, against a fake root."""
    boot = root / "boot" / "firmware"
    shutil.copytree(card, boot, symlinks=True)
    env = {"PATH": os.environ["PATH"], "NIC_EDGE_ROOT": str(root), "NIC_EDGE_FIRSTBOOT_FAKE": "1"}
    proc = subprocess.run(["sh", str(boot / HOOK)], env=env, capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr


def installed(root: Path) -> tuple[bytes, list[str]]:
    etc = root / "etc" / "nic-edge"
    manuals = root / "var" / "lib" / "nic-edge" / "manuals"
    return (etc / "device.toml").read_bytes(), sorted(os.listdir(manuals)) if manuals.is_dir() else []


def boot_problem(card: Path, root: Path, installs: dict[str, Any], where: str) -> str | None:
    """First boot of a card flash left: the old bundle or the new one, never a mix; or a clear
    refusal that takes its hook off the boot line. None when it is one of those."""
    rc, err = first_boot(card, root)
    if rc == 0:
        return None if installed(root) in (installs["old"], installs["new"]) else f"{where}: a mix installed"
    if rc != 1 or "flash the card again" not in err:
        return f"{where}: {err}"
    if (root / "boot/firmware/cmdline.txt").read_text() != BOOKWORM_CMDLINE:
        return f"{where}: the failed hook stays on the boot line"
    return None


def _flash(ws: Path, card: Path, room: str) -> Callable[[], int]:
    def run() -> int:
        if room == "one bundle":  # runs in the child only: the next flash sees the real figure
            class NoRoom(cli.DirFS):  # type: ignore[name-defined,misc]
                def free_bytes(self) -> int | None:
                    return 0

            cli.DirFS = NoRoom  # type: ignore[attr-defined]
        return flash_main(_args(ws, card, "new"), None)
    return run


@pytest.mark.parametrize(("start", "room"), [("flashed", "two bundles"), ("flashed", "one bundle"),
                                             ("fresh", "two bundles"), ("booted", "two bundles")])
def test_flash_killed_at_any_step_leaves_a_card_that_boots_safely(ws: Path, tmp_path: Path, start: str, room: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """``start``: the card re-flashed holds a bundle not booted yet (its boot line hooked), or is
    a fresh image, or has been through first boot (hook gone, only firstboot.sh left)."""
    installs = {}
    for which in ("old", "new"):  # what an uninterrupted flash leaves, and what first boot installs
        card = _card(tmp_path / f"ref-{which}")
        assert flash_main(_args(ws, card, which), None) == 0
        rc, err = first_boot(card, tmp_path / f"ref-root-{which}")
        assert rc == 0, err
        installs[which] = installed(tmp_path / f"ref-root-{which}")
    new = tmp_path / "ref-new"
    old = {"flashed": tmp_path / "ref-old", "fresh": _card(tmp_path / "fresh"),
           "booted": tmp_path / "ref-root-old" / "boot" / "firmware"}[start]
    hooked = (tmp_path / "ref-old" / "cmdline.txt").read_text()
    assert (old / "cmdline.txt").read_text() == (hooked if start == "flashed" else BOOKWORM_CMDLINE)
    assert HOOK in hooked and installs["old"] != installs["new"]
    script = (new / HOOK).read_bytes()
    only_script_seen = False
    dangling: list[str] = []  # the boot line names a script that is not there (or not whole)
    unsafe: list[str] = []    # first boot installs a mix, or fails without saying to flash again
    unfinished: list[str] = []  # the next flash does not recognise the card or not finish it
    step = 0
    while True:
        step += 1
        assert step < 400, "flash never finished"
        card = tmp_path / f"card-{step}"
        shutil.copytree(old, card, symlinks=True)
        rc = _killed_at(step, card, _flash(ws, card, room))
        if rc == 0:
            break  # flash finished before its step-th change: every step has been killed
        assert rc == KILLED, rc
        where = f"killed before change {step}: {sorted(str(p.relative_to(card)) for p in card.rglob('*'))}"
        # A hooked card stays hooked; an unhooked one is hooked only at the end (not checked
        # here: the Pi boots it as it was). When hooked, the script it names is there, whole.
        line = (card / "cmdline.txt").read_text()
        if line != hooked:
            if start == "flashed" or line != BOOKWORM_CMDLINE:
                dangling.append(f"{where}: cmdline.txt changed")
        elif not (card / HOOK).is_file() or (card / HOOK).read_bytes() != script:
            dangling.append(where)
        else:
            only_script_seen |= os.listdir(card / "nic-edge") == ["firstboot.sh"]
            # First boot: the old bundle or the new one, never a mix; or a clear refusal, unhooked.
            root = tmp_path / f"root-{step}"
            problem = boot_problem(card, root, installs, where)
            if problem:
                unsafe.append(problem)
            if [p for p in (root / "boot/firmware").rglob("*") if ".nic-" in p.name]:
                unsafe.append(f"{where}: first boot left the flash's leftovers (secrets) on FAT")
            shutil.rmtree(root)
        # The next flash recognises what was left, says so, and finishes the job.
        left = [p.name for p in card.iterdir() if ".nic-" in p.name]
        caplog.clear()
        if flash_main(_args(ws, card, "new"), None) != 0 or snapshot(card) != snapshot(new):
            unfinished.append(where)
        elif left and "flash of this card was interrupted" not in caplog.text:
            unfinished.append(f"{where}: not reported")
        shutil.rmtree(card)
    assert not dangling, f"the boot line names a missing hook, killed at {len(dangling)} steps:\n" + \
        "\n".join(dangling)
    assert not unsafe, "\n".join(unsafe)
    assert not unfinished, "\n".join(unfinished)
    assert step > 20  # the kills really did land inside the write
    if room == "one bundle":
        assert only_script_seen  # the old bundle was cleared first, the hook's script kept


def test_sigterm_at_any_step_leaves_the_old_card_or_the_new_one(ws: Path, tmp_path: Path) -> None:
    """SIGTERM is not SIGKILL: flash cleans up, or holds it while the bundle and hook change, so
    the card is exactly the old one or exactly the new one, never one that needs a re-flash."""
    for which in ("old", "new"):
        assert flash_main(_args(ws, _card(tmp_path / f"ref-{which}"), which), None) == 0
    before, after = snapshot(tmp_path / "ref-old"), snapshot(tmp_path / "ref-new")
    step, states = 0, set()
    while True:
        step += 1
        assert step < 400, "flash never finished"
        card = tmp_path / f"card-{step}"
        shutil.copytree(tmp_path / "ref-old", card, symlinks=True)
        rc = _killed_at(step, card, lambda c=card: flash_main(_args(ws, c, "new"), None), signal.SIGTERM)
        now = snapshot(card)
        assert now in (before, after), f"SIGTERM before change {step} left {sorted(now)}"
        states.add("old" if now == before else "new")
        if rc == 0:
            break
        assert rc == 143, rc
    assert states == {"old", "new"} and step > 5


def test_every_change_is_on_the_card_before_the_next_one(ws: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Power loss: a FAT card keeps the steps in order only if each rename or delete is fsynced
    (its directory) before the next one starts. rmtree's own steps are one step (a stage or a
    cleared file tree), and a temp file only has to be whole (fsynced) before its rename."""
    card = _card(tmp_path / "card")
    assert flash_main(_args(ws, card, "old"), None) == 0
    events: list[tuple[str, str]] = []
    top = str(card)

    def recording(name: str, real: Any) -> Any:
        def call(*a: Any, **kw: Any) -> Any:
            out = real(*a, **kw)
            path = os.fspath(a[1] if name in ("replace", "rename") else a[0])  # the new name's directory
            if "dir_fd" not in kw and path.startswith(top):
                events.append((name, os.path.dirname(path)))
            return out
        return call

    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))

    for name in ("replace", "rename", "unlink", "rmdir", "mkdir"):
        monkeypatch.setattr(os, name, recording(name, getattr(os, name)))
    monkeypatch.setattr(os, "fsync", fsync)
    assert flash_main(_args(ws, card, "new"), None) == 0
    monkeypatch.undo()
    changes = [i for i, (name, _) in enumerate(events) if name != "fsync"]
    assert len(changes) > 10
    for i, j in zip(changes, changes[1:] + [len(events)]):
        synced = {path for name, path in events[i + 1:j] if name == "fsync"}
        assert events[i][1] in synced, f"{events[i]} not fsynced before {events[j] if j < len(events) else 'the end'}"
