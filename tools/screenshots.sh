#!/usr/bin/env bash
# Refresh the screenshots in docs/screenshots/ with real headless Chromium: the status page
# (360 px and 1280 px; before a question, after one, after an abstention) and the fleet
# dashboard (overview and one device page). They come from the layout tests themselves, so a
# screenshot is only written by a run whose layout assertions pass.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${NIC_EDGE_TEST_VENV:-.venv-test}
[ -x "$VENV/bin/python" ] || { echo "screenshots.sh: run bash tools/test.sh once first (creates $VENV)" >&2; exit 2; }
NIC_EDGE_SCREENSHOTS=1 exec "$VENV/bin/python" -m pytest -q tests/http/test_page_chromium.py tests/fleet/test_dashboard_chromium.py "$@"
