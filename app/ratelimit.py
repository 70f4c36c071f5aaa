"""Rate limits per organisation, person or address (SPEC sections 8 and 9).

Whose count a request goes to (COUNTED_BY): a bank's, a counter's or an issuer's organisation
(the token's `org`: every system and clerk of one bank shares its budget); a citizen's, an
auditor's or an admin's own `sub`; the public's client address, an IPv6 one by its /64 (one
host is given a whole /64, so counting its single addresses would count nothing).
XINZHENG_RATE_LIMITS says which roles are limited and how much (app/config.py).

The window is a moving one (the `limits` library's MovingWindowRateLimiter): `600/minute` means
that no 60 seconds, wherever they start, hold more than 600 accepted requests. A fixed window
(one counter reset a minute after its first hit) is cheaper, but lets a client send twice its
limit across the edge between two windows; the sliding-window counter only approximates. For a
limit that is a published term of service to banks, exact wins. A refused request takes no
slot, so a client that keeps knocking while over its limit is not shut out for longer, and
Retry-After is exact: the moment the oldest accepted request in the window leaves it. The cost:
each key keeps up to `limit` timestamps (a Redis list, or a list in the process), a few KB.

With XINZHENG_REDIS_URL the counts live in Redis, shared by every worker process and every
instance of the service; without it, in this process (each worker counts for itself).

If Redis cannot be reached, requests are counted in this process instead, with one warning in
the log, and Redis is tried again every REDIS_RETRY_SECONDS. Refusing every caller because the
limiter's store is down would turn a cache outage into a service outage for every bank;
letting everything through unlimited would open a hole exactly when someone may be flooding.
In-process counts keep each worker's limit, so the worst case is the workers' count times the
configured limit until Redis answers again.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable

import redis.asyncio
from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.auth.roles import Role
from app.auth.tokens import Principal
from app.config import RateLimits
from app.errors import RateLimited
from app.i18n import Text

log = logging.getLogger("xinzheng.ratelimit")

# A limiter that waits on its store delays every request: Redis answers in well under a
# millisecond, so a quarter of a second means it is not answering.
REDIS_TIMEOUT_SECONDS = 0.25
REDIS_RETRY_SECONDS = 5.0

# Which of the caller's names its requests are counted under.
COUNTED_BY: dict[Role, str] = {
    Role.BANK: "org",
    Role.COUNTER: "org",
    Role.ISSUER: "org",
    Role.CITIZEN: "sub",
    Role.AUDITOR: "sub",
    Role.ADMIN: "sub",
    Role.PUBLIC: "address",
}


class RateLimitExceeded(RateLimited):
    """Over the limit: answered HTTP 429 with Retry-After, the whole seconds until a slot frees."""

    def __init__(self, limit: RateLimitItem, retry_after: int) -> None:
        super().__init__("rate.exceeded", limit=window(limit), retry_after=retry_after)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"retry-after": str(self.retry_after)}


def window(limit: RateLimitItem) -> Text:
    """The limit in words: `600 per 1 minute` (as the `limits` library writes it), 每 1 分钟 600 次."""
    unit = Text(f"rate.unit.{limit.GRANULARITY.name}")
    return Text("rate.window", {"amount": limit.amount, "multiples": limit.multiples, "unit": unit})


class RateLimiter:
    """Counts each request against its caller's limit; `check` raises RateLimitExceeded when over."""

    def __init__(
        self,
        limits: RateLimits,
        *,
        redis_url: str | None = None,
        redis_prefix: str = "xinzheng",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_role = limits.per_role
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.pool: redis.asyncio.ConnectionPool | None = None
        self.shared: MovingWindowRateLimiter | None = None
        if redis_url is not None and not limits.off:
            self.pool = redis.asyncio.ConnectionPool.from_url(
                redis_url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
            )
            storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix=redis_prefix,
                connection_pool=self.pool,  # type: ignore[arg-type]  # options pass on to redis-py; limits types them narrowly
                # One quick retry (a pooled connection the server closed); redis-py's default
                # backs off for up to seconds, and every request would wait through it.
                retry=Retry(NoBackoff(), 1),  # type: ignore[arg-type]  # passed on to redis-py's client
            )
            self.shared = MovingWindowRateLimiter(storage)
        self._monotonic = monotonic
        self._shared_down_until: float | None = None  # while Redis is failing: when to try it again

    async def check(self, principal: Principal, client_address: str | None) -> None:
        limit = self.per_role.get(principal.role)
        if limit is None:
            return
        key = (str(principal.role), counted_as(principal, client_address))
        frees_at = await self._hit(limit, key)
        if frees_at is not None:
            raise RateLimitExceeded(limit, retry_after(frees_at, time.time()))

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()

    async def _hit(self, limit: RateLimitItem, key: tuple[str, str]) -> float | None:
        """None if the request takes a slot; else when the next slot frees (seconds since the epoch)."""
        if self.shared is not None and self._try_shared():
            try:
                frees_at = await _take(self.shared, limit, key)
            except StorageError as e:
                self._shared_failed(e)
            else:
                self._shared_answered()
                return frees_at
        return await _take(self.local, limit, key)

    def _try_shared(self) -> bool:
        if self._shared_down_until is None:
            return True
        if self._monotonic() < self._shared_down_until:
            return False
        # One request tries Redis again; the others keep counting here until it has answered.
        self._shared_down_until = self._monotonic() + REDIS_RETRY_SECONDS
        return True

    def _shared_failed(self, error: StorageError) -> None:
        if self._shared_down_until is None:
            log.warning(
                "rate limits: Redis does not answer (%s); counting in this process until it does,"
                " so each worker process and instance keeps its own count; trying again every %g s",
                error.storage_error, REDIS_RETRY_SECONDS,
            )
        self._shared_down_until = self._monotonic() + REDIS_RETRY_SECONDS

    def _shared_answered(self) -> None:
        if self._shared_down_until is not None:
            log.warning("rate limits: Redis answers again; counts are shared again")
            self._shared_down_until = None


async def _take(limiter: MovingWindowRateLimiter, limit: RateLimitItem, key: tuple[str, str]) -> float | None:
    if await limiter.hit(limit, *key):
        return None
    return (await limiter.get_window_stats(limit, *key)).reset_time


def retry_after(frees_at: float, now: float) -> int:
    """Whole seconds to wait, rounded up so that a retry after them finds the slot free. The
    window still holds a request made exactly `expiry` seconds ago, so the slot frees just
    after `frees_at`; and Redis hands timestamps back to 14 digits (a tenth of a millisecond
    now), hence the millisecond's margin."""
    return max(1, math.ceil(frees_at - now + 0.001))


def counted_as(principal: Principal, client_address: str | None) -> str:
    """The name a caller's requests are counted under, within its role."""
    by = COUNTED_BY[principal.role]
    if by == "address":
        return address_key(client_address)
    # A token of these roles always names its org or sub (app/auth/tokens.py); "-" is a
    # guard, not a path: one shared count for any token that somehow names neither.
    return (principal.org if by == "org" else principal.sub) or "-"


def address_key(address: str | None) -> str:
    """An IPv4 address as it is; an IPv6 one by its /64; anything else as given."""
    if not address:
        return "-"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 client a.b.c.d
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
