"""`serve` answers from the manuals in <data_dir>/manuals (where first boot puts flashed ones);
the bundled sample only when that folder is empty or missing and nothing is indexed."""

from __future__ import annotations

from pathlib import Path

from nic_edge.app.serve import Device
from nic_edge.core.config import parse_config

MANUAL = """# Pump manual

## Priming the pump

Open the bleed screw, fill the housing with clean water and close the screw before starting.
"""


def _device(data: Path) -> Device:
    cfg = parse_config({"device": {"id": "box-1", "tier": "ultra_lite"}, "http": {"port": 0},
                        "engine": {"abstain_threshold": 0.0}})
    return Device(cfg, data)


def _sources(device: Device) -> list[str]:
    return [m["source"] for m in device.app.engine.manuals()]


def test_flashed_manuals_are_indexed_not_the_sample(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "manuals").mkdir(parents=True)
    (data / "manuals" / "pump.md").write_text(MANUAL, encoding="utf-8")
    device = _device(data)
    try:
        device.prepare()
        assert _sources(device) == ["pump.md"]
        # A file added later is indexed at the next start; the first one is left as it is.
        (data / "manuals" / "second.md").write_text(MANUAL.replace("Pump", "Valve"), encoding="utf-8")
        device.prepare()
        assert sorted(_sources(device)) == ["pump.md", "second.md"]
    finally:
        device.app.close()


def test_sample_only_when_the_folder_is_empty_and_nothing_is_indexed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "manuals").mkdir(parents=True)
    device = _device(data)
    try:
        device.prepare()
        assert _sources(device) == ["ford_model_t_manual_1919.txt"]
    finally:
        device.app.close()


def test_other_files_in_the_manuals_folder_are_logged_not_ignored(tmp_path: Path, caplog) -> None:
    import logging

    data = tmp_path / "data"
    (data / "manuals").mkdir(parents=True)
    (data / "manuals" / "pump.md").write_text(MANUAL, encoding="utf-8")
    (data / "manuals" / "wiring.xlsx").write_bytes(b"PK")
    device = _device(data)
    try:
        with caplog.at_level(logging.WARNING, logger="nic_edge.app.serve"):
            device.prepare()
        assert _sources(device) == ["pump.md"]
        assert any("1 file(s) that are not of a manual type" in r.getMessage() and ".xlsx x1" in r.getMessage()
                   for r in caplog.records), [r.getMessage() for r in caplog.records]
    finally:
        device.app.close()
