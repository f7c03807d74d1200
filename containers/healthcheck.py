"""HEALTHCHECK of the images: GET $NIC_HEALTH_URL (default the device's /healthz); exit 0 on 200.

A tiny stdlib script instead of curl/wget keeps them out of the images. The device answers 503
while starting and the aggregator's /healthz is served by its metrics endpoint
(aggregator.metrics_port), so the compose file sets the URL per service.
"""
import os
import sys
import urllib.request

url = os.environ.get("NIC_HEALTH_URL", "http://127.0.0.1:8080/healthz")
try:
    with urllib.request.urlopen(url, timeout=3) as r:  # noqa: S310 - loopback URL from the image's env
        sys.exit(0 if r.status == 200 else 1)
except OSError as exc:  # URLError/HTTPError (503 while starting) and refused connections
    print(f"unhealthy: {url}: {exc}", file=sys.stderr)
    sys.exit(1)
