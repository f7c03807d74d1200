"""Prometheus exposition: format details, and `promtool check metrics` on real output."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from nic_edge.telemetry.device_metrics import DeviceMetrics
from nic_edge.telemetry.metrics import Registry
from nic_edge.telemetry.prometheus import escape_label, format_value, render


def _busy_metrics() -> DeviceMetrics:
    m = DeviceMetrics()
    for i in range(200):
        m.observe_stage("embed", 0.001 * (i % 17 + 1))
        m.record_answer({"latency_ms": 5.0 + i, "abstained": i % 5 == 0, "cached": "l1" if i % 3 == 0 else None})
    m.record_error(0.2)
    m.set_resources({"rss_bytes": 90_000_000, "cpu_percent": 12.5, "cpu_temp_c": 48.3, "throttled": 0,
                     "disk_free_bytes": 2_000_000_000, "model_load_s": 1.7, "index_bytes": 12345})
    m.set_budget({"budget_bytes": 160 * 1048576, "level": 0})
    m.registry.gauge("nic_edge_build_info", 'Build "info" with \\ and\nnewline', ("version",)).labels(
        'v1 "quoted" \\ back\nslash').set(1)
    return m


def test_format_details() -> None:
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert format_value(None) == "NaN" and format_value(float("inf")) == "+Inf"
    assert format_value(3.0) == "3" and format_value(0.25) == "0.25"
    reg = Registry()
    reg.histogram("nic_edge_x_seconds", "X").observe(0.5)
    text = render(reg)
    assert "# TYPE nic_edge_x_seconds summary" in text
    assert 'nic_edge_x_seconds{quantile="0.99"} 0.5' in text
    assert "nic_edge_x_seconds_count 1" in text and text.endswith("\n")
    text = _busy_metrics().prometheus_text()
    assert 'nic_edge_stage_latency_seconds{stage="embed",quantile="0.5"}' in text
    assert 'nic_edge_questions_total{outcome="error"} 1' in text
    assert '{version="v1 \\"quoted\\" \\\\ back\\nslash"} 1' in text


def test_promtool_accepts_output(tmp_path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package 'prometheus'); cannot run `promtool check metrics`")
    text = _busy_metrics().prometheus_text()
    empty = DeviceMetrics().prometheus_text()  # fresh box: NaN quantiles, no resource samples
    for body in (text, empty):
        proc = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip() == "" and proc.stderr.strip() == "", proc.stdout + proc.stderr
