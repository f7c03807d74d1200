"""nic-fleet flash stopped by SIGTERM (systemd, a CI timeout, kill): no DIR/<id>.img.partial
and no half-written bundle is left; the images already finished stay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nic_edge.core.signing import generate_key, write_key
from tests.fleet.provision_support import BOOKWORM_CMDLINE, CONFIG_TXT, make_image, require_tools

ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_during_image_copies_leaves_no_partial_image(tmp_path: Path) -> None:
    require_tools()
    write_key(tmp_path / "fleet.key", generate_key())
    (tmp_path / "base.toml").write_text('[device]\ntier = "lite"\n')
    (tmp_path / "fleet.csv").write_text("id\n" + "".join(f"box-{i:02d}\n" for i in range(40)))
    img = tmp_path / "base.img"
    make_image(img, {"cmdline.txt": BOOKWORM_CMDLINE.encode(), "config.txt": CONFIG_TXT.encode()})
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "nic_edge.cli.fleet", "flash", "--image", str(img),
                             "--inventory", str(tmp_path / "fleet.csv"), "--template", str(tmp_path / "base.toml"),
                             "--out", str(out), "--fleet-key", str(tmp_path / "fleet.key")],
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("*.partial")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)  # waiting for the first copy to start, not timing anything
        assert proc.poll() is None, "flash ended before an image copy was seen"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143 and "terminated" in err, err
    assert not list(out.glob("*.partial"))
    done = sorted(out.glob("*.img"))
    assert len(done) < 40  # it was stopped part-way; what finished is complete (renamed last)
