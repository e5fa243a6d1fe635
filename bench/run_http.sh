#!/usr/bin/env bash
# HTTP latency + SQL query counts of our help desk with the peer's harness
# (../shared/bench/peer-django-helpdesk: bench_http.py, count_queries.py),
# side by side with django-helpdesk's published figures (bench/RESULTS.md).
#
#   bench/run_http.sh                 # 100k (tenant bench) and 1M (tenant bench1m)
#   SCALES="100k:bench" bench/run_http.sh
#
# Starts gunicorn (2 sync workers, DEBUG off, like the peer's server.sh) on
# 127.0.0.1:8042, runs the harness per scale, writes bench/results/*.json and
# stops gunicorn. Needs the data from bench/generate.py and `requests` in the venv.
# DATABASE_URL and REDIS_URL from the environment, or the checkout's own services
# (scripts/devstack.py services).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PEER=${PEER:-$REPO/../shared/bench/peer-django-helpdesk}
PY=${PY:-$REPO/.venv/bin/python}
GUNICORN=$(dirname "$PY")/gunicorn
PORT=${PORT:-8042}
N=${BENCH_N:-30}
WARMUP=${BENCH_WARMUP:-1}
BUDGET=${BENCH_BUDGET:-60}
SCALES=${SCALES:-"100k:bench 1M:bench1m"}
PAGES=${BENCH_PAGES:-}            # comma list, default all pages of the target
SUFFIX=${BENCH_SUFFIX:-}          # appended to the result labels, e.g. _recheck
QUERIES=${BENCH_QUERIES:-1}       # 0: skip count_queries.py
OUT=$REPO/bench/results
mkdir -p "$OUT"

# Without DATABASE_URL: the checkout's own Postgres and Redis (.data/).
if [ -z "${DATABASE_URL:-}" ]; then
    eval "$(python3 "$REPO/scripts/devstack.py" services)"
fi
export DATABASE_URL REDIS_URL=${REDIS_URL:-redis://127.0.0.1:16379/2}
# The web processes run as the app's role only, as in production.
unset MIGRATE_DATABASE_URL
export DEBUG=0
export SECRET_KEY=${SECRET_KEY:-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(50))')}
export ALLOWED_HOSTS=127.0.0.1,localhost
export SECURE_SSL_REDIRECT=0 SESSION_COOKIE_SECURE=0 CSRF_COOKIE_SECURE=0 SECURE_HSTS_SECONDS=0
export STATIC_MANIFEST=0
export STATIC_ROOT=${STATIC_ROOT:-$(mktemp -d)}  # nothing static is requested; quiets whitenoise
export EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend
export LOG_LEVEL=WARNING
export DJANGO_SETTINGS_MODULE=helpdesk.settings
export PYTHONPATH=$REPO:$REPO/bench${PYTHONPATH:+:$PYTHONPATH}
export BENCH_BASE_URL=http://127.0.0.1:$PORT

PIDFILE=$(mktemp -u /tmp/ourdesk-gunicorn.XXXXXX.pid)
stop() {
    if [ -f "$PIDFILE" ]; then
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        for _ in $(seq 50); do [ -f "$PIDFILE" ] || break; sleep 0.2; done
        rm -f "$PIDFILE"
    fi
}
trap stop EXIT

cd "$REPO"
"$GUNICORN" helpdesk.wsgi -w 2 --worker-class sync --timeout 600 -b "127.0.0.1:$PORT" \
    --pid "$PIDFILE" --daemon --error-logfile "${GUNICORN_LOG:-/tmp/ourdesk-gunicorn.log}"
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null

for pair in $SCALES; do
    label=${pair%%:*}$SUFFIX
    export BENCH_TENANT=${pair#*:}
    export BENCH_AGENT=${BENCH_AGENT_OVERRIDE:-$BENCH_TENANT-agent0}
    echo "== $label: tenant $BENCH_TENANT, agent $BENCH_AGENT"
    "$PY" "$PEER/bench_http.py" --base-url "$BENCH_BASE_URL" --target target_ourdesk \
        --label "$label" --n "$N" --warmup "$WARMUP" --budget "$BUDGET" \
        --pages "$PAGES" --out "$OUT/latency_$label.json"
    if [ "$QUERIES" = 1 ]; then
        "$PY" "$PEER/count_queries.py" --target target_ourdesk --label "$label" \
            --pages "$PAGES" --out "$OUT/queries_$label.json"
    fi
done
