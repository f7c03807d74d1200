"""Telemetry: metrics (sketch-backed histograms), resource profiler and memory budget, alert
rules, audit log. Submodules import nothing heavy at module level (psutil loads lazily in the
profiler); import them directly, e.g. ``from nic_edge.telemetry.metrics import Registry``.
"""
