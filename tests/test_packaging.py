"""The wheel's explicit package list covers every package folder."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_package_list_complete() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "nic_edge").rglob("__init__.py")}
    assert found - listed == set(), "add these to pyproject.toml [tool.setuptools] packages"
    assert "nic_edge._config" in listed and (ROOT / "config" / "__init__.py").exists()
