"""Images and the compose stack, for real: build (cached), bring the fleet side up on loopback,
run three device containers against it, read the dashboard through its web server, kill one
aggregator. Run with `bash tools/test.sh --containers` (needs root podman; tests/conftest.py
leaves this folder out of the everyday run)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.containers.stack import ROOT, Stack, run, wait_for

DEVICES = ("dev-1", "dev-2", "dev-3")
IMAGES = ("localhost/nic-edge-aggregator:latest", "localhost/nic-edge-device:latest",
          "localhost/nic-edge-broker:latest")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("stack")
    # a long commit interval keeps ~3 snapshots per device delivered but not yet committed (so not
    # yet acknowledged) at any moment: the aggregator kill below always lands on some
    s = Stack(base, render_interval=2.0, commit_interval=3.0)
    try:
        s.up()
        for dev in DEVICES:
            s.add_device(dev, base).start()
        for d in s.devices:  # first start indexes the bundled manual: allow for three at once on 2 cores
            wait_for(d.healthy, 600, f"{d.id} healthy", step=2)
        yield s
    finally:
        s.down()


def online_ids(fleet: dict) -> set[str]:
    return {d["id"] for d in fleet["devices"] if d["online"]}


def test_images_are_non_root_with_healthcheck_and_nothing_secret(stack: Stack) -> None:
    for img in IMAGES:
        image = json.loads(stack.podman("image", "inspect", img))[0]
        cfg = image["Config"]
        assert cfg["User"] == "10001:10001", img
        assert image["Healthcheck"]["Test"] == ["CMD", "python3", image["Healthcheck"]["Test"][2]], img
        assert "/data" in cfg["Volumes"], img
        # config and secrets are mounted, never baked in
        listing = stack.podman("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", img, "-c",
                               "ls -d /config /run/secrets /etc/mosquitto/*.passwd 2>/dev/null; true")
        assert listing.strip() == "", f"{img}: {listing}"


def test_stack_is_healthy_read_only_and_unprivileged(stack: Stack) -> None:
    for service in ("broker", "aggregator-a", "aggregator-b", "dashboard"):
        c = stack.container(service)
        wait_for(lambda: stack.healthy(c), 60, f"{service} healthy", step=1)
        assert stack.podman("exec", c, "id", "-u").strip() == "10001", service
        touch = subprocess.run(["podman", "exec", c, "touch", "/usr/x"], env=stack.env, capture_output=True, text=True)
        assert touch.returncode != 0 and "Read-only file system" in touch.stderr, service
    inspect = json.loads(stack.podman("inspect", stack.container("aggregator-a")))[0]
    assert inspect["HostConfig"]["ReadonlyRootfs"] is True
    # every published port is on the host's loopback only
    for c in (stack.container(s) for s in ("broker", "aggregator-a", "aggregator-b", "dashboard")):
        ports = json.loads(stack.podman("inspect", c))[0]["HostConfig"]["PortBindings"]
        published = [b for bs in ports.values() if bs for b in bs]  # EXPOSEd but unpublished: null
        assert published and all(b["HostIp"] == "127.0.0.1" for b in published), ports


def test_dashboard_shows_the_three_devices(stack: Stack) -> None:
    fleet = wait_for(lambda: online_ids(stack.fleet()) == set(DEVICES) and stack.fleet(), 120,
                     "three devices online in fleet.json")
    rows = {d["id"]: d for d in fleet["devices"]}
    assert all(rows[d]["last_seq"] is not None and rows[d]["tier"] for d in DEVICES), rows
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.ports['dashboard']}/", timeout=5) as r:
        html = r.read().decode()
    assert all(d in html for d in DEVICES)
    # each aggregator answers /healthz and /metrics on its own loopback port with the whole fleet
    for port in (stack.ports["agg_a"], stack.ports["agg_b"]):
        assert wait_for(lambda p=port: json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{p}/healthz", timeout=3).read())["devices"] == 3, 30, f"healthz :{port}")


def test_killing_one_aggregator_loses_no_device_and_no_snapshot(stack: Stack, tmp_path: Path) -> None:
    wait_for(lambda: online_ids(stack.fleet()) == set(DEVICES), 120, "three devices online")
    a = stack.container("aggregator-a")
    started = json.loads(stack.podman("inspect", a))[0]["State"]["StartedAt"]
    t_kill = time.time()
    stack.podman("kill", "--signal", "KILL", a)
    # through the web server, for one render interval and a bit: every read holds the whole fleet
    # online, and a render by aggregator-b newer than the kill arrives within one render interval
    # (+1 s slack); aggregator-a may be back by then (restart policy) and render too
    fresh_at = None
    while time.time() - t_kill < 2 * stack.render_interval + 1:
        fleet = stack.fleet()
        assert online_ids(fleet) == set(DEVICES), fleet["devices"]
        by = fleet.get("rendered_by", {}).get("id")
        if fresh_at is None and fleet["generated_at"] > t_kill and by == "nic-aggregator-b":
            fresh_at = time.time()
        time.sleep(0.2)
    assert fresh_at is not None and fresh_at - t_kill <= stack.render_interval + 1.0, fresh_at

    # aggregator-a comes back (compose restart policy, else by hand) with its persistent session:
    # what it had not committed was not acknowledged and is re-sent; what came meanwhile was queued
    if json.loads(stack.podman("inspect", a))[0]["State"]["StartedAt"] == started:
        stack.podman("start", a)
    wait_for(lambda: stack.healthy(a), 60, "aggregator-a healthy again", step=1)
    seqs = {d.id: d.seq() for d in stack.devices}
    # freeze the devices so both aggregators can reach the same last snapshot, then stop them
    names = [d.name for d in stack.devices]
    stack.podman("pause", *names)
    try:
        time.sleep(3 * stack.render_interval)
        run(["bash", "tools/fleet_stack.sh", "compose", "stop", "aggregator-a", "aggregator-b"], env=stack.env)
    finally:
        stack.podman("unpause", *names)
    views = {s: stack.render_once(s, tmp_path / s) for s in ("aggregator-a", "aggregator-b")}
    for svc, fleet in views.items():
        rows = {d["id"]: d for d in fleet["devices"]}
        for dev in DEVICES:
            assert rows[dev]["missing_seq"] == 0, (svc, rows[dev])
            assert rows[dev]["last_seq"] >= seqs[dev], (svc, dev, rows[dev]["last_seq"], seqs[dev])
    # the killed one holds exactly what the other holds: the same last seq and no gap below it
    a_rows = {d["id"]: d["last_seq"] for d in views["aggregator-a"]["devices"]}
    b_rows = {d["id"]: d["last_seq"] for d in views["aggregator-b"]["devices"]}
    assert a_rows == b_rows
    stack.podman("start", stack.container("aggregator-a"), stack.container("aggregator-b"))


def test_device_stops_cleanly_on_sigterm(stack: Stack) -> None:
    d = stack.devices[-1]
    t0 = time.monotonic()
    stack.podman("stop", "-t", "30", d.name)
    took = time.monotonic() - t0
    state = json.loads(stack.podman("inspect", d.name))[0]["State"]
    assert state["ExitCode"] == 0, state  # tini passed SIGTERM on; serve stopped cleanly
    assert took < 25, took                 # not the stop timeout's SIGKILL
    logs = subprocess.run(["podman", "logs", d.name], env=stack.env, capture_output=True, text=True)
    logs = logs.stdout + logs.stderr
    assert "signal 15: stopping" in logs
    # a clean stop publishes the retained offline: the dashboard shows it at the next render
    wait_for(lambda: d.id not in online_ids(stack.fleet()), 30, f"{d.id} offline on the dashboard")


def test_build_is_cached() -> None:
    """A second build with nothing changed builds nothing (the tags are hashes of the inputs)."""
    env = dict(os.environ, CONTAINERS_CONF=str(ROOT / "containers" / "containers.conf"))
    p = subprocess.run(["bash", "tools/build_images.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "building" not in p.stderr, p.stderr
