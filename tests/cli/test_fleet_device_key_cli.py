"""``nic-fleet device-key``: the id follows the device id rule (as flash and the topics do)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.cli.fleet import main
from nic_edge.core.signing import derive_device_key, generate_key, read_key, write_key


@pytest.mark.parametrize("bad", ["a/b", "x" * 65, "line\nbreak", "x#", " lead"])
def test_an_id_no_box_can_have_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    write_key(tmp_path / "fleet.key", generate_key())
    with pytest.raises(SystemExit) as exit_:
        main(["device-key", bad, "--out", str(tmp_path / "d.key"), "--fleet-key", str(tmp_path / "fleet.key")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "must be 1-64 printable characters" in err and "Traceback" not in err, err
    assert not (tmp_path / "d.key").exists()


def test_a_good_id_gets_its_key(tmp_path: Path) -> None:
    key = generate_key()
    write_key(tmp_path / "fleet.key", key)
    assert main(["device-key", "truck-07", "--out", str(tmp_path / "d.key"),
                 "--fleet-key", str(tmp_path / "fleet.key")]) == 0
    assert read_key(tmp_path / "d.key") == derive_device_key(key, "truck-07")
