"""Route what a native library prints on fd 2 (TFLite's "INFO: Created TensorFlow Lite XNNPACK
delegate for CPU.") into Python logging, so it shows only with ``-v``.

The TFLite runtimes print with C stdio, below Python's ``sys.stderr``, and offer no switch
(``TF_CPP_MIN_LOG_LEVEL`` is ignored by LiteRT's minimal logger). So for the few calls that
print (interpreter construction and its first ``allocate_tensors``) fd 2 points at a temp file;
afterwards the runtime's ``INFO:`` lines go to the ``nic_edge.native`` logger at INFO and
anything else (another thread's output in that window) is written back to stderr unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from typing import Iterator

NATIVE_LOGGER = "nic_edge.native"
_PREFIXES = ("INFO: ", "VERBOSE: ")


@contextlib.contextmanager
def native_stderr_to_log() -> Iterator[None]:
    log = logging.getLogger(NATIVE_LOGGER)
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no fd 2 (a daemon without stderr): nothing to route
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        try:
            os.dup2(tmp.fileno(), 2)
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", "replace")
        other = []
        for line in text.splitlines():
            if line.startswith(_PREFIXES):
                log.info("%s", line)
            elif line:
                other.append(line)
        if other:
            sys.stderr.write("\n".join(other) + "\n")
            sys.stderr.flush()
