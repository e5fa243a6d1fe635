"""A Celery worker with some event handlers unsubscribed, to measure the
others without them (bench_dispatch.py --without):

    .venv/bin/python bench/celery_worker_without.py reports.ticket_facts -- \
        worker -Q celery,timers -c 8

The handlers are dropped before the pool's processes fork, so none of them
runs one; events that wanted them are marked processed without them.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

import django  # noqa: E402

django.setup()

from helpdesk.celery import app  # noqa: E402
from tickets.events import unsubscribe  # noqa: E402

if __name__ == "__main__":
    names, separator, *arguments = sys.argv[1:]
    if separator != "--":
        raise SystemExit(__doc__)
    for name in filter(None, names.split(",")):
        unsubscribe(name)
    app.worker_main(arguments)
