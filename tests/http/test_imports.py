"""The HTTP surface stays light: stdlib only, nothing heavy imported with it."""

from __future__ import annotations

import subprocess
import sys


def test_http_modules_import_light() -> None:
    code = ("import sys, nic_edge.http, nic_edge.http.server, nic_edge.http.page\n"
            "heavy = {'numpy', 'lmdb', 'paho', 'psutil', 'msgpack', 'tflite_runtime', 'ai_edge_litert'}\n"
            "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
