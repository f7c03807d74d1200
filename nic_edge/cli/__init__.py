"""Command-line surfaces: nic-edge, nic-fleet, nic-aggregator."""
