"""A simulated device process for the kill -9 content-update test.

    python3 tests/integration/content_device_proc.py --data DIR --host H --port P --pub FILE
        [--step-delay S] [--rate BYTES_PER_S]

Runs a SimDevice (real MQTT, updater, downloader, store). Each update step (download block,
downloaded, verified, extracted, switch, switched) prints ``step <name>`` and, with
--step-delay, pauses there so a SIGKILL can land inside it. Prints ``ready`` when started.
SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.content_device import SimDevice  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pub", required=True)
    ap.add_argument("--step-delay", type=float, default=0.0)
    ap.add_argument("--rate", type=int, default=0)
    args = ap.parse_args()
    done = threading.Event()

    def step(name: str) -> None:
        print(f"step {name}", flush=True)
        if args.step_delay:
            done.wait(args.step_delay)

    dev = SimDevice("crash-dev", Path(args.data), {"host": args.host, "port": args.port}, Path(args.pub),
                    content={"rate_bytes_per_s": args.rate},
                    fault=step, store_fault=lambda s: step("store-" + s))
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    dev.start()
    print("ready", flush=True)
    done.wait()
    dev.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
