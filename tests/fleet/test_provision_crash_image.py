"""nic-fleet flash --image killed before each of its mtools changes (mmd, mcopy, mdel, mdeltree,
mmove) while re-flashing an image that is already flashed and hooked: the same guarantees as
test_provision_crash.py gives a mounted card, on the FAT partition inside the image."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nic_edge.fleet.provision.cli import add_flash_arguments, flash_main, sparse_copy
from nic_edge.fleet.provision.mtools import FatImage
from tests.fleet.provision_support import (
    BOOKWORM_CMDLINE, CONFIG_TXT, MTOOLS_ENV, make_image, mdir_tree, mtype, require_tools)
from tests.fleet.test_provision_crash import HOOK, KILLED, boot_problem, first_boot, in_child, installed, killer
from tests.fleet.test_provision_crash import ws  # noqa: F401 - the fixture

CHANGES = {"mmd", "mcopy", "mdel", "mdeltree", "mmove"}


def _args(ws: Path, img: Path, which: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_flash_arguments(parser)
    return parser.parse_args(["--image", str(img), "--device-config", str(ws / f"{which}.toml"),
                              "--fleet-key", str(ws / "fleet.key"), "--manuals", str(ws / f"manuals-{which}")])


def extract(img: Path, off: int, dest: Path) -> Path:
    """Every file of the FAT partition copied out to ``dest`` (what the Pi mounts as its boot)."""
    listing = subprocess.run(["mdir", "-/", "-b", "-i", f"{img}@@{off}", "::/"], capture_output=True,
                             env=MTOOLS_ENV, check=True).stdout.decode()
    dest.mkdir(parents=True)
    for line in listing.splitlines():
        rel = line.strip().split("::/", 1)[-1]
        if not rel:
            continue
        if rel.endswith("/"):
            (dest / rel).mkdir(parents=True, exist_ok=True)
            continue
        data = mtype(img, off, rel)
        if data is not None:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(data)
    return dest


def test_flash_into_an_image_killed_at_any_step(ws: Path, tmp_path: Path,  # noqa: F811
                                                caplog: pytest.LogCaptureFixture) -> None:
    require_tools()
    base = tmp_path / "base.img"
    off = make_image(base, {"cmdline.txt": BOOKWORM_CMDLINE.encode(), "config.txt": CONFIG_TXT.encode()})
    installs = {}
    for which in ("old", "new"):
        sparse_copy(base, tmp_path / f"{which}.img")
        assert flash_main(_args(ws, tmp_path / f"{which}.img", which), None) == 0
        card = extract(tmp_path / f"{which}.img", off, tmp_path / f"ref-{which}")
        rc, err = first_boot(card, tmp_path / f"ref-root-{which}")
        assert rc == 0, err
        installs[which] = installed(tmp_path / f"ref-root-{which}")
    old, new = tmp_path / "old.img", tmp_path / "new.img"
    hooked, script, done = mtype(old, off, "cmdline.txt"), mtype(new, off, HOOK), mdir_tree(new, off)
    assert hooked is not None and HOOK in hooked.decode() and script and installs["old"] != installs["new"]
    dangling, unsafe, unfinished = [], [], []
    step = 0
    while True:
        step += 1
        assert step < 200, "flash never finished"
        img = tmp_path / "card.img"
        sparse_copy(old, img)

        def child(step: int = step, img: Path = img) -> int:
            tick, real = killer(step), FatImage._run

            def run(self: FatImage, tool: str, *a: Any, **kw: Any) -> Any:
                if tool in CHANGES:
                    tick()
                return real(self, tool, *a, **kw)

            FatImage._run = run  # type: ignore[method-assign]
            return flash_main(_args(ws, img, "new"), None)

        rc = in_child(child)
        if rc == 0:
            break
        assert rc == KILLED, rc
        tree = mdir_tree(img, off)
        where = f"killed before mtools change {step}: {sorted(tree)}"
        if mtype(img, off, "cmdline.txt") != hooked or mtype(img, off, HOOK) != script:
            dangling.append(where)
        else:
            problem = boot_problem(extract(img, off, tmp_path / f"boot-{step}"), tmp_path / f"root-{step}",
                                   installs, where)
            if problem:
                unsafe.append(problem)
        left = [k for k in tree if ".nic-" in k]
        caplog.clear()
        if flash_main(_args(ws, img, "new"), None) != 0 or mdir_tree(img, off) != done:
            unfinished.append(where)
        elif left and "flash of this card was interrupted" not in caplog.text:
            unfinished.append(f"{where}: not reported")
    assert not dangling, f"the boot line names a missing hook, killed at {len(dangling)} steps:\n" + \
        "\n".join(dangling)
    assert not unsafe, "\n".join(unsafe)
    assert not unfinished, "\n".join(unfinished)
    assert step > 10
