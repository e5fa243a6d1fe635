"""A worker knows every task the code can enqueue. Celery's autodiscovery
imports each app's `tasks` module only; a task beside its code in a
sub-package (tickets/portal/tasks.py) is unknown to a worker unless that
module imports it, and its messages are dropped as "unregistered".

The test process has imported everything already, so the check runs in a
fresh interpreter, as a worker starts."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("helpdesk", "tickets", "dispatch", "sla", "knowledge", "reports")

PROBE = """
import importlib, json, os, sys
import django
from helpdesk.celery import app
django.setup()
app.loader.import_default_modules()
known = set(app.tasks)
for module in sys.argv[1:]:
    importlib.import_module(module)
print(json.dumps(sorted(set(app.tasks) - known)))
"""


def test_a_fresh_worker_registers_every_task_module():
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for package in PACKAGES
        for path in (ROOT / package).rglob("tasks.py")
    )
    assert "tickets.portal.tasks" in modules
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "helpdesk.settings"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    unknown = json.loads(out.stdout.strip().splitlines()[-1])
    assert unknown == [], f"tasks a worker would drop as unregistered: {unknown}"
