"""``nic-fleet content build`` refuses a bad --out or --version before any indexing."""

from __future__ import annotations

from pathlib import Path

import pytest

from nic_edge.cli.fleet import main


def build(tmp_path: Path, *extra: str) -> int:
    (tmp_path / "m.txt").write_text("manual\n")
    return main(["content", "build", str(tmp_path / "m.txt"), "--key", str(tmp_path / "no.key"), *extra])


def test_a_missing_out_directory_is_refused_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build(tmp_path, "--out", str(tmp_path / "typo" / "b.nicb")) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not exist" in err, err
    assert not (tmp_path / "typo").exists()


def test_an_out_that_is_a_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build(tmp_path, "--out", str(tmp_path)) == 1
    assert "is a directory" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["-5", "x"])
def test_a_version_boxes_would_refuse_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       bad: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        build(tmp_path, "--out", str(tmp_path / "b.nicb"), f"--version={bad}")
    assert exit_.value.code == 2 and "--version" in capsys.readouterr().err
