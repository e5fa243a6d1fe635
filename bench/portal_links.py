"""Issue portal links for random tickets of a tenant, through the portal's
own token service (`portal_link_issue`, as the mail to a customer does), and
write them as JSON for the `portal_ticket` page of bench/target_ourdesk.py.
The file holds working links: keep it out of the repository (default: the
system's temporary folder).

    .venv/bin/python bench/portal_links.py --tenant bench1m --links 300
"""

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402
from django.db.models import Max, Min  # noqa: E402

from helpdesk.models import Tenant  # noqa: E402
from helpdesk.tenancy import tenant_context  # noqa: E402
from tickets.models import Ticket  # noqa: E402
from tickets.portal.services import portal_link_issue  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", default="bench1m")
    parser.add_argument("--links", type=int, default=300)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    out = Path(args.out or Path(tempfile.gettempdir()) / f"portal_links_{args.tenant}.json")
    rng = random.Random(args.seed)
    tenant = Tenant.objects.get(slug=args.tenant)
    links = []
    with tenant_context(tenant), transaction.atomic():
        span = Ticket.objects.aggregate(lo=Min("number"), hi=Max("number"))
        numbers = sorted({rng.randint(span["lo"], span["hi"]) for _ in range(args.links)})
        for ticket in Ticket.objects.filter(number__in=numbers).select_related("requester"):
            token = portal_link_issue(ticket=ticket, email=ticket.requester.email)
            links.append({"number": ticket.number, "token": token, "status": ticket.status})
    out.write_text(json.dumps(links))
    print(f"{len(links)} links to random tickets of {tenant.slug} in {out}")


if __name__ == "__main__":
    main()
