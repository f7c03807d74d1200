"""Replace ``nic-edge/`` on a boot partition so that a run killed at any step (SIGKILL, the PC
losing power) never leaves a boot line that names a missing hook.

The invariant: once ``cmdline.txt`` (or ``user-data``) names ``nic-edge/firstboot.sh``, that
script is on the card, complete, at every step. So ``nic-edge/`` is never moved away or removed
as a whole while it may be hooked; only the files beside the script change, in this order:

1. the new bundle is written complete to ``nic-edge.nic-tmp/nic-edge/`` (the old one untouched);
2. the old ``MANIFEST`` goes first: from here first boot refuses the bundle ("MANIFEST missing;
   flash the card again", FAILED, hook removed: no reboot loop) and never installs a mix;
3. every other old file but ``firstboot.sh`` goes; the new ``firstboot.sh`` replaces the old in
   one step (temp name, rename; one mcopy on an image);
4. the staged files move in, the new ``MANIFEST`` last: the bundle is complete again;
5. the hook is added (flash.install_hook) only now, when everything it names is in place.

Each step is durable before the next (DirFS fsyncs files and directories; FatImage fsyncs the
image), so power loss keeps them in order. The next ``flash`` finds what a killed run left
(:func:`tidy`), says so, and writes the card again; nothing here asks for manual repair.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from typing import TYPE_CHECKING, Iterator

from nic_edge.fleet.provision.bundle import BUNDLE_DIR, FIRSTBOOT_NAME, MANIFEST_NAME, Bundle

if TYPE_CHECKING:
    from nic_edge.fleet.provision.flash import BootFS

log = logging.getLogger(__name__)

# Moved between parents, never renamed (see FatImage.move): nic-edge.nic-tmp/nic-edge/x -> nic-edge/x.
STAGE_DIR = f"{BUNDLE_DIR}.nic-tmp"
# Only written by flash before it kept the hook valid (it parked the old bundle here during the
# swap); a card left so is still put right by tidy.
OLD_DIR = f"{BUNDLE_DIR}.nic-old"
STAGED = f"{STAGE_DIR}/{BUNDLE_DIR}"
SCRIPT = f"{BUNDLE_DIR}/{FIRSTBOOT_NAME}"
BOOT_LINES = ("cmdline.txt", "user-data")  # where flash.install_hook adds the hook


def _is(name: str, wanted: str) -> bool:
    return name.casefold() == wanted.casefold()  # FAT compares names without case


def tidy(fs: BootFS, target: str = "the card", hooked: bool = False) -> list[str]:
    """Leftovers of a killed run: a stage goes; an old bundle parked by an older flash goes back
    (it is the card's only bundle); an incomplete ``nic-edge/``, or (``hooked``: a card, whose
    boot line should name the hook) a complete one not hooked yet, is reported (the run rewrites
    it). Returns what was found, after a warning naming it."""
    found = []
    for name in BOOT_LINES:
        if fs.exists(f"{name}.nic-tmp"):  # killed between writing it and renaming it into place
            found.append(f"a half-written {name}")
            fs.remove(f"{name}.nic-tmp")
    if fs.exists(STAGE_DIR):
        found.append(f"a half-written {STAGE_DIR}/")
        fs.remove_tree(STAGE_DIR)
    if fs.exists(f"{OLD_DIR}/{BUNDLE_DIR}") and not fs.exists(BUNDLE_DIR):
        found.append(f"the previous bundle parked in {OLD_DIR}/ (put back)")
        fs.move(f"{OLD_DIR}/{BUNDLE_DIR}", "")
    if fs.exists(OLD_DIR):
        found.append(f"{OLD_DIR}/")
        fs.remove_tree(OLD_DIR)
    names = fs.listdir(BUNDLE_DIR)

    def has(wanted: str) -> bool:
        return any(_is(n, wanted) for n in names)

    if not has(MANIFEST_NAME) and any(not _is(n, FIRSTBOOT_NAME) for n in names):
        found.append(f"an incomplete {BUNDLE_DIR}/ (no {MANIFEST_NAME})")
    elif hooked and has(MANIFEST_NAME) and not has("FAILED") and not any(
            SCRIPT in (fs.read(line) or b"").decode("utf-8", "replace") for line in BOOT_LINES):
        found.append(f"a {BUNDLE_DIR}/ the boot line does not name yet")
    if found:
        log.warning("%s: an earlier flash of this card was interrupted (found %s); writing the bundle again",
                    target, ", ".join(found))
    return found


def clear(fs: BootFS, bundle: Bundle) -> None:
    """Leave ``nic-edge/`` holding only the bundle's ``firstboot.sh`` (steps 2 and 3)."""
    if not fs.exists(BUNDLE_DIR):
        fs.mkdir(BUNDLE_DIR)
    names = fs.listdir(BUNDLE_DIR)
    for name in names:
        if _is(name, MANIFEST_NAME):  # first: what remains is a bundle first boot refuses
            fs.remove(f"{BUNDLE_DIR}/{name}")
    for name in names:
        if not _is(name, MANIFEST_NAME) and not _is(name, FIRSTBOOT_NAME):
            fs.remove(f"{BUNDLE_DIR}/{name}")
    script = bundle.files.get(FIRSTBOOT_NAME)
    if script is not None and fs.read(SCRIPT) != script:
        fs.write(SCRIPT, script, bundle.mode(FIRSTBOOT_NAME))  # one step: a temp name, then a rename


def write_tree(fs: BootFS, root: str, bundle: Bundle) -> None:
    """The bundle's files under ``root`` (the stage), ``MANIFEST`` last."""
    fs.mkdir(root)
    made = {root}
    for name in sorted(bundle.files, key=lambda n: (n == MANIFEST_NAME, n)):
        parents = name.split("/")[:-1]
        for i in range(1, len(parents) + 1):
            sub = "/".join([root, *parents[:i]])
            if sub not in made:
                fs.mkdir(sub)
                made.add(sub)
        fs.write(f"{root}/{name}", bundle.files[name], bundle.mode(name))


def commit(fs: BootFS, bundle: Bundle) -> None:
    """Put the complete stage in place of ``nic-edge/`` (steps 2 to 4) and drop the stage."""
    if not fs.exists(BUNDLE_DIR):
        fs.move(STAGED, "")  # nothing to keep valid: one move brings the whole bundle
    else:
        clear(fs, bundle)
        staged = fs.listdir(STAGED)
        for name in staged:
            if not _is(name, MANIFEST_NAME) and not _is(name, FIRSTBOOT_NAME):
                fs.move(f"{STAGED}/{name}", BUNDLE_DIR)
        for name in staged:
            if _is(name, MANIFEST_NAME):
                fs.move(f"{STAGED}/{name}", BUNDLE_DIR)  # last: the bundle is complete from here
    fs.remove_tree(STAGE_DIR)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGTERM and SIGINT wait until the block is done (commit and hook take a moment): stopped
    there, flash would leave a bundle first boot refuses instead of the old or the new one."""
    held = {signal.SIGTERM, signal.SIGINT}
    try:
        before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):  # no pthread_sigmask on this platform
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)  # a held signal is delivered here
