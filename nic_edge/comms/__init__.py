"""MQTT telemetry: payload schema (shared with the fleet side), outbox, publisher.

Kept light: importing ``nic_edge.comms`` or ``nic_edge.comms.schema`` pulls in neither paho
nor lmdb; the publisher and outbox import them lazily.
"""
