"""Device composition root: wires engine, cache, telemetry and comms for the surfaces."""
