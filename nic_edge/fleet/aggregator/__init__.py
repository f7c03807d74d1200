"""nic-aggregator: fleet MQTT -> LMDB history -> static dashboard, analytics, notifications.

Modules: ingest (MQTT subscriber + validation), state (latest state, de-dup), series (LMDB time
series), render/html/device_page (dashboard), analytics (anomalies, trends, report), notify
(webhook/chat/e-mail), prom (Prometheus endpoint), main (composition root). Fleet-side code: it
imports only nic_edge.core, nic_edge.comms.schema and nic_edge.errors. Importing it does no work.
"""
