"""Write a bundle onto a boot partition (mounted dir or image file) and append the first-boot hook.

Besides the ``nic-edge/`` folder only one line is ever added, and only once:
- cloud-init images (a ``user-data`` file on the boot partition): a ``runcmd`` entry;
- otherwise ``cmdline.txt`` gets ``systemd.run=<hook>`` plus the actions Raspberry Pi Imager's
  ``firstrun.sh`` uses. If ``systemd.run=`` is already there (Imager's ``firstrun.sh``) it is kept
  and ours is added as a second ``systemd.run=``: systemd-run-generator runs every one in order,
  so Imager's setup runs first and chains to ours within the same boot.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from nic_edge.errors import ProvisioningError
from nic_edge.fleet.provision.bundle import BUNDLE_DIR, FIRSTBOOT_NAME, Bundle
from nic_edge.fleet.provision.mtools import FatImage
from nic_edge.fleet.provision.partitions import find_boot_partition
from nic_edge.fleet.provision.swap import (
    OLD_DIR, STAGE_DIR, STAGED, clear, commit, signals_held, tidy, write_tree)

log = logging.getLogger(__name__)

HOOK_MARK = f"{BUNDLE_DIR}/{FIRSTBOOT_NAME}"
CMDLINE = "cmdline.txt"
USER_DATA = "user-data"
BOOT_MOUNTS = ("/boot/firmware", "/boot")


class BootFS(Protocol):
    def read(self, path: str) -> bytes | None: ...
    def write(self, path: str, data: bytes, mode: int = 0o644) -> None: ...
    def mkdir(self, path: str) -> None: ...
    def remove_tree(self, path: str) -> None: ...
    def free_bytes(self) -> int | None: ...
    def exists(self, path: str) -> bool: ...
    def move(self, src: str, dst_dir: str) -> None: ...
    def tree_bytes(self, path: str) -> int: ...
    def listdir(self, path: str = "") -> list[str]: ...
    def remove(self, path: str) -> None: ...


def _fsync_dir(path: Path) -> None:
    """Make a rename, create or delete in ``path`` durable before the next step (power loss);
    vfat supports fsync on a directory. A file system that refuses it only loses the ordering."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        log.debug("open %s for fsync: %s", path, exc)
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        log.debug("fsync %s: %s", path, exc)
    finally:
        os.close(fd)


class DirFS:
    """A mounted boot partition (or any directory). Secrets are created 0600 from the start.
    Every change is durable (file and directory fsynced) before the method returns, so the
    order of the steps in swap.py is the order a card that loses power keeps them in."""

    def __init__(self, root: Path, secrets: set[str] | None = None) -> None:
        self.root = Path(root)
        self.secrets = secrets or set()

    def read(self, path: str) -> bytes | None:
        p = self.root / path
        return p.read_bytes() if p.is_file() else None

    def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        p = self.root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".nic-tmp")
        # O_CREAT with the final mode: a secret is never readable by others, not even briefly.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)  # a nearly full card takes fewer bytes than asked
                    if n <= 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
                    view = view[n:]
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.chmod(tmp, mode)  # umask may have narrowed it; FAT mounts may ignore it (fmask)
            except OSError as exc:
                log.debug("chmod %s: %s (vfat without chmod support: the mount's fmask decides)", tmp, exc)
            os.replace(tmp, p)
            _fsync_dir(p.parent)
        except BaseException:
            _unlink_leftover(tmp)  # a half-written file never stays, under any name
            raise

    def mkdir(self, path: str) -> None:
        p = self.root / path
        if not p.is_dir():
            p.mkdir(parents=True, exist_ok=True)
            _fsync_dir(p.parent)

    def remove_tree(self, path: str) -> None:
        p = self.root / path
        if p.is_dir():
            shutil.rmtree(p)
            _fsync_dir(p.parent)

    def remove(self, path: str) -> None:
        p = self.root / path
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
        else:
            return
        _fsync_dir(p.parent)

    def listdir(self, path: str = "") -> list[str]:
        p = self.root / path
        return sorted(os.listdir(p)) if p.is_dir() else []

    def free_bytes(self) -> int | None:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def exists(self, path: str) -> bool:
        return (self.root / path).exists()

    def move(self, src: str, dst_dir: str) -> None:
        s = self.root / src
        d = self.root / dst_dir / s.name
        if d.exists():
            raise ProvisioningError(f"cannot move {s} into {d.parent}: {d.name} is there")
        os.rename(s, d)
        _fsync_dir(d.parent)
        _fsync_dir(s.parent)

    def tree_bytes(self, path: str) -> int:
        p = self.root / path
        if not p.is_dir():
            return 0
        return sum(f.lstat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())


def _unlink_leftover(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not remove %s after a failed write: %s", path, exc)


@dataclass
class FlashResult:
    device_id: str
    target: str
    files: list[str] = field(default_factory=list)
    hook: str = ""  # "cmdline.txt", "cmdline.txt (chained)", "user-data", "already present", "none"


def check_image_writable(image: Path) -> None:
    """Refuse read-only images before writing anything (root ignores permissions, so check bits too)."""
    try:
        st = image.stat()
    except OSError as exc:
        raise ProvisioningError(f"cannot open image {image}: {exc.strerror or exc}", hint="check the path") from exc
    if not stat.S_ISREG(st.st_mode):
        raise ProvisioningError(f"{image} is not a regular file",
                                hint="flash writes image files; for a card use its mounted boot partition with --boot")
    if not st.st_mode & 0o222:
        raise ProvisioningError(f"image {image} is read-only", hint="chmod u+w it, or use --out DIR to write copies")
    try:
        with open(image, "r+b"):
            pass
    except OSError as exc:
        raise ProvisioningError(f"image {image} is not writable: {exc.strerror or exc}",
                                hint="check permissions, or use --out DIR to write copies") from exc


def open_image(image: Path) -> FatImage:
    check_image_writable(image)
    part = find_boot_partition(image)
    return FatImage(image, part.offset)


def boot_mount(fs: BootFS) -> str:
    """Where the box mounts its boot partition: /boot/firmware from Bookworm on, /boot before."""
    config = (fs.read("config.txt") or b"").decode("utf-8", "replace")
    cmdline = (fs.read(CMDLINE) or b"").decode("utf-8", "replace")
    if "/boot/firmware" in config or "/boot/firmware" in cmdline:
        return "/boot/firmware"
    if re.search(r"/boot/(overlays|config\.txt)", config):
        return "/boot"
    return "/boot/firmware"


def cmdline_with_hook(text: str, hook_path: str) -> tuple[str, str]:
    """(new cmdline.txt text, how) — appends only; unchanged when the hook is already there."""
    if HOOK_MARK in text:
        return text, "already present"
    body = text.rstrip("\r\n")
    tail = text[len(body):]
    if len(body.splitlines()) > 1:
        raise ProvisioningError("cmdline.txt has more than one line; the kernel reads only the first",
                                hint="fix cmdline.txt (one line) and run flash again")
    if "systemd.run=" in body:
        # Keep Imager's firstrun.sh: a second systemd.run= runs after it in the same boot.
        add = f" systemd.run={hook_path} systemd.run_failure_action=reboot"
        how = "cmdline.txt (chained after existing systemd.run)"
    else:
        add = (f" systemd.run={hook_path} systemd.run_success_action=reboot"
               " systemd.run_failure_action=reboot systemd.unit=kernel-command-line.target")
        how = "cmdline.txt"
    return body + add + (tail or "\n"), how


def _user_data_kind(text: str) -> str:
    """"empty", "cloud-config", "script" (#!) or "other" (#include, MIME, no header...).

    cloud-init reads ``runcmd:`` only from a part whose first line is ``#cloud-config`` (after an
    optional ``## template: jinja`` line); appended to anything else, the entry is never run."""
    lines = [ln.strip() for ln in text.splitlines()]
    if not any(lines):
        return "empty"
    if lines[0].lower().startswith("## template:") and len(lines) > 1:
        lines = lines[1:]
    if lines[0].startswith("#cloud-config"):
        return "cloud-config"
    return "script" if lines[0].startswith("#!") else "other"


def user_data_with_hook(text: str, hook_path: str) -> tuple[str, str]:
    """Add a cloud-init runcmd entry; lines are only added, never changed."""
    if HOOK_MARK in text:
        return text, "already present"
    entry = f"[sh, {hook_path}, --now]"
    kind = _user_data_kind(text)
    if kind == "empty":  # nothing to keep: a cloud-config holding just our entry
        return f"#cloud-config\nruncmd:\n  - {entry}\n" + text, "user-data"
    if kind == "script":
        raise ProvisioningError("user-data is a shell script, not #cloud-config: cloud-init would never run "
                                "a runcmd entry added to it",
                                hint=f"add the line 'sh {hook_path} --now' to the script yourself (flash then "
                                     "leaves it alone), or make user-data #cloud-config; nothing was written")
    if kind == "other":
        raise ProvisioningError("user-data does not start with #cloud-config: cloud-init would never run a "
                                "runcmd entry added to it",
                                hint="start it with a #cloud-config line (or remove user-data to use "
                                     "cmdline.txt); nothing was written")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next((i for i, ln in enumerate(lines) if re.match(r"runcmd\s*:", ln)), None)
    if start is None:
        return "".join(lines) + f"runcmd:\n  - {entry}\n", "user-data"
    if not re.match(r"runcmd\s*:\s*(#.*)?$", lines[start].rstrip("\n")):
        raise ProvisioningError("user-data has an inline runcmd value this tool cannot extend",
                                hint="write runcmd as a block list ('runcmd:' then '  - ...' lines)")
    end = start + 1
    indent = "  "
    while end < len(lines):
        ln = lines[end]
        if ln.strip() and not ln.startswith((" ", "\t", "-")):
            break  # next top-level key
        if ln.lstrip().startswith("- ") and ln.strip():
            indent = ln[: len(ln) - len(ln.lstrip())]
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # keep trailing blank lines after our entry
    lines.insert(end, f"{indent}- {entry}\n")
    return "".join(lines), "user-data"


def install_hook(fs: BootFS) -> str:
    """Append the first-boot hook where this image expects it; returns what was done."""
    hook_path = f"{boot_mount(fs)}/{HOOK_MARK}"
    user_data = fs.read(USER_DATA)
    if user_data is not None:
        new, how = user_data_with_hook(user_data.decode("utf-8"), hook_path)
        if new.encode("utf-8") != user_data:
            fs.write(USER_DATA, new.encode("utf-8"))
        return how
    cmdline = fs.read(CMDLINE)
    if cmdline is None:
        log.warning("no cmdline.txt or user-data on the boot partition: first-boot hook not installed")
        return "none (no cmdline.txt or user-data; run firstboot.sh by hand)"
    new, how = cmdline_with_hook(cmdline.decode("utf-8"), hook_path)
    if new.encode("utf-8") != cmdline:
        fs.write(CMDLINE, new.encode("utf-8"))
    return how


def preflight(fs: BootFS, bundle: Bundle) -> bool:
    """Everything that can be checked before the first byte is written. True: the new bundle
    fits beside the old one (the old stays intact until the new one is complete); False: only
    once the old one is removed."""
    for name in (USER_DATA, CMDLINE):
        raw = fs.read(name)
        if raw is None:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProvisioningError(f"{name} on the boot partition is not UTF-8 text") from exc
        if name == USER_DATA:
            user_data_with_hook(text, f"{boot_mount(fs)}/{HOOK_MARK}")
            break
        cmdline_with_hook(text, f"{boot_mount(fs)}/{HOOK_MARK}")
    free = fs.free_bytes()
    if free is None:
        return True  # cannot tell; a failed write still leaves the old bundle as it was
    # A margin covers FAT cluster rounding. Leftovers of an interrupted run are removed first.
    need = bundle.total_bytes() + 4096 * (len(bundle.files) + 4)
    spare = free + fs.tree_bytes(STAGE_DIR)
    if spare >= need:
        return True
    # The old bundle's bytes come back when it is cleared; its firstboot.sh stays until the new
    # one replaces it (temp name, rename), so that the hook always finds a script (swap.clear).
    old = fs.tree_bytes(BUNDLE_DIR) + fs.tree_bytes(OLD_DIR)
    first = len(bundle.files.get(FIRSTBOOT_NAME, b"")) + 4096
    if spare + old < need + first:
        raise ProvisioningError(f"boot partition has {spare + old} bytes free (the previous bundle counted as "
                                f"free), the bundle needs about {need + first}",
                                hint="drop --manuals or copy manuals after first boot; nothing was written")
    return False


_tidy = tidy  # the name older tests use


def _discard(fs: BootFS, path: str) -> None:
    try:
        fs.remove_tree(path)
    except (OSError, ProvisioningError) as exc:
        log.error("could not remove the half-written %s: %s; delete it by hand", path, exc)


def write_bundle(fs: BootFS, bundle: Bundle, target: str, hook: bool = True) -> FlashResult:
    """Replace ``nic-edge/`` with the bundle, then append the hook (idempotent).

    The new bundle is written to ``nic-edge.nic-tmp/nic-edge/`` and put in place only when
    complete, so a failure (disk full, card pulled) leaves the previous bundle as it was. When
    the card holds only one bundle's worth, the old one is cleared first, keeping the hook's
    ``firstboot.sh``: a failure then leaves a bundle first boot detects as incomplete (FAILED,
    hook removed), and flash says to write the card again. Killed at any step, the card's boot
    line never names a missing script (swap.py has the order of the steps)."""
    beside = preflight(fs, bundle)
    result = FlashResult(bundle.device_id, target)
    tidy(fs, target, hooked=hook)
    kept = True
    if not beside and fs.exists(BUNDLE_DIR):
        log.warning("%s: no room for two bundles; removing the previous one first", target)
        kept = False
        with signals_held():
            clear(fs, bundle)
    try:
        fs.mkdir(STAGE_DIR)
        write_tree(fs, STAGED, bundle)
    except (OSError, ProvisioningError) as exc:
        _discard(fs, STAGE_DIR)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        state = ("the card's previous bundle is unchanged" if kept else
                 "the previous bundle was removed to make room, so flash this card again")
        raise ProvisioningError(f"writing the bundle to {target} failed: {why}; {state}",
                                hint="free space on the boot partition or drop --manuals") from exc
    except BaseException:  # e.g. Ctrl-C: no half-written bundle (secrets included) stays behind
        _discard(fs, STAGE_DIR)
        if not kept:
            log.error("%s: the previous bundle was removed to make room; flash this card again", target)
        raise
    with signals_held():  # SIGTERM or Ctrl-C now: the new bundle and its hook first, then exit
        commit(fs, bundle)
        # Last: the boot line names the script only once the bundle it installs is complete.
        result.hook = install_hook(fs) if hook else "none (bundle directory)"
    result.files = [f"{BUNDLE_DIR}/{name}" for name in sorted(bundle.files)]
    log.info("flashed %s to %s (%d files, hook: %s)", bundle.device_id, target, len(result.files), result.hook)
    return result
