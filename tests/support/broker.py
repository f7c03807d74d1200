"""Fixtures starting a real mosquitto broker on a free loopback port (filled in by the comms work)."""
