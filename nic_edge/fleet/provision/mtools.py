"""Read and write files in a FAT partition inside an image file with GNU mtools.

``mcopy -i IMAGE@@OFFSET`` addresses a partition by byte offset, so neither root, loop devices nor
mounting are needed. Paths here are POSIX-style, relative to the partition root ("nic-edge/x").
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from nic_edge.errors import MissingDependencyError, ProvisioningError

_TIMEOUT_S = 120.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["MTOOLS_SKIP_CHECK"] = "1"  # Pi images' FAT geometry trips mtools' strict sanity checks
    env["LC_ALL"] = "C"  # stable "bytes free" wording
    return env


def require_mtools() -> None:
    """Raise a clear error naming the apt package when mcopy is missing."""
    if shutil.which("mcopy") is None:
        raise MissingDependencyError(
            "mtools is not installed (mcopy not found); it is needed for --image",
            hint="apt-get install mtools (or brew install mtools), or mount the partition and use --boot DIR")


class FatImage:
    """A FAT file system at ``offset`` bytes inside ``image``."""

    def __init__(self, image: Path, offset: int) -> None:
        require_mtools()
        self.image = Path(image)
        self.offset = offset
        self._drive = f"{self.image}@@{offset}"

    def _run(self, tool: str, *args: str, input_ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[bytes]:
        cmd = [tool, "-i", self._drive, *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, env=_env(), timeout=_TIMEOUT_S, check=False)
        except FileNotFoundError as exc:
            raise MissingDependencyError(f"{tool} not found", hint="apt-get install mtools") from exc
        except subprocess.TimeoutExpired as exc:
            raise ProvisioningError(f"{tool} timed out on {self.image}") from exc
        if proc.returncode not in input_ok:
            msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise ProvisioningError(f"{tool} failed on {self.image}: {msg[-1] if msg else proc.returncode}",
                                    hint="check the image is a Raspberry Pi OS image and not in use")
        return proc

    @staticmethod
    def _spec(path: str) -> str:
        return "::/" + path.strip("/")

    def exists(self, path: str) -> bool:
        proc = self._run("mdir", "-b", self._spec(path), input_ok=(0, 1))
        return proc.returncode == 0

    def read(self, path: str) -> bytes | None:
        """File content, or None when the file does not exist."""
        if not self.exists(path):
            return None
        return self._run("mtype", self._spec(path)).stdout  # no -t: bytes as stored

    def listdir(self, path: str = "") -> list[str]:
        """Names directly inside ``path`` (empty when it does not exist)."""
        proc = self._run("mdir", "-b", self._spec(path) + "/", input_ok=(0, 1))
        if proc.returncode != 0:
            return []
        out = []
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            name = line.rstrip("/").rsplit("/", 1)[-1]
            if name and name not in (".", ".."):
                out.append(name)
        return out

    def _durable(self) -> None:
        """Each mtools run has written its change to the image file; make it reach the disk before
        the next step (the PC losing power keeps the steps in order)."""
        try:
            fd = os.open(self.image, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def mkdir(self, path: str) -> None:
        if not self.exists(path):
            self._run("mmd", self._spec(path))
            self._durable()

    def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Create or overwrite one file (parent directory must exist).

        FAT has no Unix modes, so ``mode`` is ignored: the first-boot hook applies the modes
        from MANIFEST when it moves the files off the partition.
        """
        with tempfile.NamedTemporaryFile(prefix="nic-flash-") as tmp:
            tmp.write(data)
            tmp.flush()
            self._run("mcopy", "-o", "-n", tmp.name, self._spec(path))
        self._durable()

    def remove_tree(self, path: str) -> None:
        if self.exists(path):
            self._run("mdeltree", self._spec(path))
            self._durable()

    def remove(self, path: str) -> None:
        """Delete a file or a directory tree (nothing when it does not exist)."""
        if self._run("mdel", self._spec(path), input_ok=(0, 1)).returncode != 0:
            if not self.exists(path):
                return
            self._run("mdeltree", self._spec(path))
        self._durable()

    def move(self, src: str, dst_dir: str) -> None:
        """Move a file or directory into ``dst_dir`` ("" is the root), keeping its name. Never a
        rename: mren/mmove to a new name drop the case of a name that fits 8.3 ("nic-edge"
        would come out as NIC-EDGE), while a move keeps the directory entry's name as it is."""
        name = src.rstrip("/").rsplit("/", 1)[-1]
        if self.exists(f"{dst_dir}/{name}".strip("/")):
            raise ProvisioningError(f"cannot move {src} into {dst_dir or '/'} of {self.image}: {name} is there")
        self._run("mmove", self._spec(src), self._spec(dst_dir).rstrip("/") + "/")
        self._durable()

    def tree_bytes(self, path: str) -> int:
        """Bytes in the files under ``path`` (0 when it does not exist), as mdir -/ totals them."""
        proc = self._run("mdir", "-/", self._spec(path), input_ok=(0, 1))
        if proc.returncode != 0:
            return 0
        out = proc.stdout.decode("utf-8", "replace")
        # One "N files  M bytes" line per directory, then (with subdirectories) the total last.
        totals = re.findall(r"^\s*[\d ,.]+ files?\s+([\d ,.]+) bytes\s*$", out, re.M)
        return int(re.sub(r"\D", "", totals[-1]) or 0) if totals else 0

    def free_bytes(self) -> int | None:
        """Free space reported by mdir, or None if its output is not understood."""
        out = self._run("mdir", self._spec("")).stdout.decode("utf-8", "replace")
        m = re.search(r"([\d ,.]+) bytes free", out)
        if not m:
            return None
        digits = re.sub(r"\D", "", m.group(1))
        return int(digits) if digits else None
