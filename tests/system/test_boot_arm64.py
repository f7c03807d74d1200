"""The arm64 variant of the system test (issue 21), on demand only: `bash tools/test.sh
--system-arm64` (NIC_SYSTEM_TEST=arm64; CI does not run it).

The same image (Debian Bookworm, Pi OS boot layout, firmware/install.sh in the chroot -- here
run under qemu-user + binfmt), flashed the same way, booted under qemu-system-aarch64 on the
generic `virt` board with the Pi 4's core (cortex-a72, 2 vCPU, 1 GiB, TCG). The checks are the
amd64 test's functions, collected here again so they run against this module's arm64 box.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from tests.system import test_boot_amd64 as amd64
from tests.system.test_boot_amd64 import Box, booted_box

pytestmark = pytest.mark.skipif(os.environ.get("NIC_SYSTEM_TEST") != "arm64",
                                reason="arm64 system test: run `bash tools/test.sh --system-arm64` (on demand)")

DEVICE = "sys-arm64"
# aarch64 under TCG on an x86 host is several times slower than the amd64 guest.
FIRST_BOOT_S = 1800
AGENT_S = 1800


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Box]:
    yield from booted_box(tmp_path_factory, request, arch="arm64", device=DEVICE, memory_mb=1024, cpus=2,
                          first_boot_s=FIRST_BOOT_S, agent_s=AGENT_S)


# The amd64 checks, in the amd64 file's order (they share one booted box and run in order).
test_first_boot_applied = amd64.test_first_boot_applied
test_ready_and_healthz = amd64.test_ready_and_healthz
test_flashed_manual_answered_with_citation = amd64.test_flashed_manual_answered_with_citation
test_reports_to_the_fleet_broker = amd64.test_reports_to_the_fleet_broker
test_watchdog_restarts_a_stopped_process = amd64.test_watchdog_restarts_a_stopped_process
test_clean_stop = amd64.test_clean_stop
