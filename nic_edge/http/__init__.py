"""Local HTTP surface: status page, JSON API and admin routes (stdlib only).

Kept light on purpose: nothing is imported here; use ``nic_edge.http.server.HttpService``.
"""
