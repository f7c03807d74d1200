"""Find files that ship with the package (tier profiles, alert rules, sample manual, model).

Installed wheels carry the repo's ``config/`` as the ``nic_edge._config`` package; a source
checkout (or an editable install) finds the same files next to the package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_PKG_DIR = Path(__file__).resolve().parent.parent


def config_file(name: str) -> Path:
    """Path of a shipped config file such as ``tiers.toml`` or ``alerts.toml``."""
    try:
        ref = resources.files("nic_edge._config") / name
        if ref.is_file():
            return Path(str(ref))
    except ModuleNotFoundError:
        pass
    candidate = _PKG_DIR.parent / "config" / name
    if candidate.is_file():
        return candidate
    raise FileNotFoundError(f"shipped config file {name} not found; reinstall nic-edge")


def data_file(name: str) -> Path:
    """Path of a file in ``nic_edge/data`` (the bundled sample manual)."""
    return Path(str(resources.files("nic_edge.data") / name))


def models_dir() -> Path:
    """Directory holding the shipped model, vocab and manifest."""
    return Path(str(resources.files("nic_edge.models")))


SAMPLE_MANUAL = "ford_model_t_manual_1919.txt"
