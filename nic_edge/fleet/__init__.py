"""Fleet-side tools: signing/keys, aggregator, dashboard, analytics, notify, provisioning.

Fleet code depends on ``nic_edge.core`` and the MQTT payload schema only, never on the engine:
it must run on a machine without the model. Importing this package does no work.
"""
