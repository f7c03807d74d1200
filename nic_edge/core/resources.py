"""Find files that ship with the package (tier profiles, alert rules, sample manual, model).

Installed wheels carry the repo's ``config/`` as the ``nic_edge._config`` package; a source
checkout (or an editable install) finds the same files next to the package. Plain paths are
tried first; ``importlib.resources`` (about 40 ms of imports at start-up) only as a fallback
for unusual installs.
"""

from __future__ import annotations

from pathlib import Path

_PKG_DIR = Path(__file__).resolve().parent.parent

SAMPLE_MANUAL = "ford_model_t_manual_1919.txt"


def _from_resources(package: str, name: str | None = None) -> Path | None:
    from importlib import resources
    try:
        ref = resources.files(package)
    except ModuleNotFoundError:
        return None
    if name is not None:
        ref = ref / name
    path = Path(str(ref))
    return path if path.exists() else None


def config_file(name: str) -> Path:
    """Path of a shipped config file such as ``tiers.toml`` or ``alerts.toml``."""
    for candidate in (_PKG_DIR / "_config" / name, _PKG_DIR.parent / "config" / name):
        if candidate.is_file():
            return candidate
    found = _from_resources("nic_edge._config", name)
    if found is None:
        raise FileNotFoundError(f"shipped config file {name} not found; reinstall nic-edge")
    return found


def data_file(name: str) -> Path:
    """Path of a file in ``nic_edge/data`` (the bundled sample manual)."""
    candidate = _PKG_DIR / "data" / name
    return candidate if candidate.is_file() else (_from_resources("nic_edge.data", name) or candidate)


def models_dir() -> Path:
    """Directory holding the shipped model, vocab and manifest."""
    candidate = _PKG_DIR / "models"
    return candidate if (candidate / "manifest.json").is_file() else (_from_resources("nic_edge.models") or candidate)
