"""One error tree for nic_edge. Every error carries a hint that says what to do.

Catch these at the boundaries (CLI, HTTP handler, service loops) only.
"""

from __future__ import annotations


class NicEdgeError(Exception):
    """Base of every error nic_edge raises on purpose."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class ConfigError(NicEdgeError):
    """A configuration value is wrong. ``problems`` holds (key_path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        text = "; ".join(f"{path}: {msg}" for path, msg in self.problems)
        super().__init__(text or "invalid configuration")

    def lines(self) -> list[str]:
        """One ``key.path: message`` line per problem, as printed by check-config."""
        return [f"{path}: {msg}" for path, msg in self.problems]


class MissingDependencyError(NicEdgeError):
    """An optional dependency is not installed; the hint names what to install."""


class ModelError(NicEdgeError):
    """The embedding model cannot be loaded or run."""


class IndexStoreError(NicEdgeError):
    """The on-disk index is missing, corrupt or built with another model."""


class IngestError(NicEdgeError):
    """A manual could not be read or parsed."""


class InvalidInputError(NicEdgeError):
    """A question or request is not acceptable (empty, too long, control characters...)."""


class StorageError(NicEdgeError):
    """An LMDB store or file in the data dir is unusable."""


class SignatureError(NicEdgeError):
    """A signed fleet message failed verification."""


class ProvisioningError(NicEdgeError):
    """An image, boot partition or inventory cannot be written."""


class BackupError(NicEdgeError):
    """A backup cannot be written, or a backup file cannot be restored (damaged, incompatible)."""


class ReleaseError(NicEdgeError):
    """A software release bundle cannot be built, verified or installed."""
