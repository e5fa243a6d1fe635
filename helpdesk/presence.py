"""Who else has a page open right now, kept in Redis for a few seconds.

Each open page reports every few seconds; a report older than PRESENCE_TTL
seconds means the person left. Nothing here is tenant data in Postgres, but
keys carry the tenant id so tenants never see each other. With Redis
unreachable nobody is shown: presence is a courtesy, the page works without it.
"""

import json
import time

from .ratelimit import REDIS_ERRORS, redis_paused, redis_reachable, redis_unreachable
from .ratelimit import redis_client as _redis

PRESENCE_TTL = 25
_WHAT = "presence not shown"


def presence_report(*, tenant_id: int, topic: str, user, replying: bool) -> list[dict]:
    """Record that `user` is on `topic` (and whether they are typing a reply);
    return the others there now (nobody when Redis is unreachable)."""
    if redis_paused(_WHAT):
        return []
    try:
        others = _report(tenant_id=tenant_id, topic=topic, user=user, replying=replying)
    except REDIS_ERRORS as exc:
        redis_unreachable(_WHAT, exc)
        return []
    redis_reachable(_WHAT)
    return others


def _report(*, tenant_id: int, topic: str, user, replying: bool) -> list[dict]:
    key = f"presence:{tenant_id}:{topic}"
    now = time.time()
    info = {
        "name": user.get_full_name() or user.get_username(),
        "replying": replying,
    }
    client = _redis()
    pipe = client.pipeline()
    pipe.zadd(key, {str(user.pk): now})
    pipe.hset(f"{key}:info", str(user.pk), json.dumps(info))
    pipe.zremrangebyscore(key, "-inf", now - PRESENCE_TTL)
    pipe.zrange(key, 0, -1)
    pipe.expire(key, PRESENCE_TTL * 2)
    pipe.expire(f"{key}:info", PRESENCE_TTL * 2)
    *_, members, _, _ = pipe.execute()
    others = [m.decode() for m in members if m.decode() != str(user.pk)]
    if not others:
        return []
    details = client.hmget(f"{key}:info", others)
    return [json.loads(raw) for raw in details if raw]
