"""Settings, read once from the environment (SPEC section 8)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType

import limits

from app.auth.roles import Role
from app.execution.limits import Limits

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"
DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{VAR_DIR / 'xinzheng.db'}"
DEV_SECRET_FILE = VAR_DIR / "dev-jwt-secret"
DEV_AUDIT_KEY_FILE = VAR_DIR / "dev-audit-key.pem"

# Below this length an HMAC secret is guessable; prod refuses it, and one of fewer distinct characters.
MIN_SECRET_BYTES = 32
MIN_DISTINCT_SECRET_CHARACTERS = 12


class ConfigError(Exception):
    """The environment does not describe a service that may start."""


# SPEC section 8: the limits when XINZHENG_RATE_LIMITS is not set.
DEFAULT_RATE_LIMITS = "bank=600/minute,counter=300/minute,issuer=600/minute,citizen=120/minute,public=60/minute"


@dataclass(frozen=True)
class RateLimits:
    """XINZHENG_RATE_LIMITS: the most requests each role may send in a window (app/ratelimit.py
    says per what); a role not named is not limited, and `off` names none."""

    per_role: Mapping[Role, limits.RateLimitItem]

    @property
    def off(self) -> bool:
        return not self.per_role

    @classmethod
    def parse(cls, raw: str) -> RateLimits:
        """`bank=600/minute,public=60/minute`, or `off`. Each limit is one in the `limits`
        library's notation (`600/minute`, `1000 per 10 minutes`) of at least one request."""
        raw = raw.strip()
        if raw.lower() == "off":
            return cls(MappingProxyType({}))
        per_role: dict[Role, limits.RateLimitItem] = {}
        for item in filter(None, (part.strip() for part in raw.split(","))):
            name, equals, value = (s.strip() for s in item.partition("="))
            if name not in Role.__members__.values() or not equals:
                raise ConfigError(
                    f"XINZHENG_RATE_LIMITS: {item!r} is not role=limit with a role of {', '.join(Role)} (or say 'off')"
                )
            if Role(name) in per_role:
                raise ConfigError(f"XINZHENG_RATE_LIMITS names {name} twice")
            try:
                parsed = limits.parse_many(value)
            except ValueError:
                parsed = []
            if len(parsed) != 1 or parsed[0].amount < 1:
                raise ConfigError(
                    f"XINZHENG_RATE_LIMITS: {item!r} is not one limit of at least one request, like {name}=60/minute"
                )
            per_role[Role(name)] = parsed[0]
        if not per_role:
            raise ConfigError("XINZHENG_RATE_LIMITS names no role; to turn rate limits off, say 'off'")
        return cls(MappingProxyType(per_role))


def _default_rate_limits() -> RateLimits:
    return RateLimits.parse(DEFAULT_RATE_LIMITS)


@dataclass(frozen=True)
class Settings:
    database_url: str
    env: str
    jwt_secret: str | None
    jwt_public_key: str | None
    jwt_issuer: str
    jwt_audience: str
    # True when the HMAC secret is the generated dev one (var/dev-jwt-secret), which prod never
    # uses; `xinzheng token` signs with whichever secret the service has, in dev only.
    dev_secret: bool
    # The audit log's checkpoint key (Ed25519, PEM); dev makes one in var/ when unset.
    audit_key_pem: str | None = None
    audit_checkpoint_every: int = 100
    # ... and every this many seconds when entries arrived since (the unsigned tail is bounded
    # in time as well as in count); the checkpoints' origin line and key name (C2SP signed note).
    audit_checkpoint_seconds: float = 10.0
    audit_origin: str = "xinzheng/audit"
    # Depth, aliases, root fields, tokens and cost of a query (SPEC section 9).
    query_limits: Limits = field(default_factory=Limits)
    # How long a request may run before it is stopped and answered (SPEC section 9), in seconds.
    request_timeout: float = 10.0
    # How long a request's head (request line and headers) may take to arrive (app/protocol.py).
    header_timeout: float = 10.0
    # Requests per window by role (SPEC sections 8 and 9), counted in Redis when a URL is
    # given (shared by every worker and instance), else in each worker process.
    rate_limits: RateLimits = field(default_factory=_default_rate_limits)
    redis_url: str | None = None
    # Keys in Redis start with this, so that several deployments (or test runs) may share one.
    redis_prefix: str = "xinzheng"
    # XINZHENG_LOG_FORMAT: one JSON object a line (`json`), or lines for a person (`console`).
    log_format: str = "json"

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        env = environ.get("XINZHENG_ENV", "dev")
        if env not in ("dev", "prod"):
            raise ConfigError(f"XINZHENG_ENV must be 'dev' or 'prod', not {env!r}")
        secret = environ.get("XINZHENG_JWT_SECRET") or None
        public_key = environ.get("XINZHENG_JWT_PUBLIC_KEY") or None
        dev_secret = False
        if secret is None and public_key is None:
            if env == "prod":
                raise ConfigError(
                    "prod needs XINZHENG_JWT_SECRET or XINZHENG_JWT_PUBLIC_KEY; "
                    "it never uses a generated dev secret"
                )
            secret, dev_secret = _dev_secret(), True
        if env == "prod" and secret is not None:
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigError(f"XINZHENG_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes in prod")
            if _guessable(secret):
                raise ConfigError(
                    "XINZHENG_JWT_SECRET looks guessable (too few distinct characters, or a short pattern"
                    " repeated); make one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
                )
            if DEV_SECRET_FILE.exists() and DEV_SECRET_FILE.read_text().strip() == secret:
                raise ConfigError("XINZHENG_JWT_SECRET is the generated dev secret; prod refuses it")
        return cls(
            database_url=environ.get("XINZHENG_DATABASE_URL") or DEFAULT_DATABASE_URL,
            env=env,
            jwt_secret=secret,
            jwt_public_key=public_key,
            jwt_issuer=environ.get("XINZHENG_JWT_ISSUER", "xinzheng-dev"),
            jwt_audience=environ.get("XINZHENG_JWT_AUDIENCE", "xinzheng"),
            dev_secret=dev_secret,
            audit_key_pem=environ.get("XINZHENG_AUDIT_KEY") or None,
            audit_checkpoint_every=_positive_int(environ, "XINZHENG_AUDIT_CHECKPOINT_EVERY", 100),
            audit_checkpoint_seconds=_positive_seconds(environ, "XINZHENG_AUDIT_CHECKPOINT_SECONDS", 10.0),
            audit_origin=_origin(environ.get("XINZHENG_AUDIT_ORIGIN") or "xinzheng/audit"),
            query_limits=_query_limits(environ.get("XINZHENG_QUERY_LIMITS", "")),
            request_timeout=float(_positive_int(environ, "XINZHENG_REQUEST_TIMEOUT", 10)),
            header_timeout=header_timeout(environ),
            rate_limits=RateLimits.parse(environ.get("XINZHENG_RATE_LIMITS") or DEFAULT_RATE_LIMITS),
            redis_url=_redis_url(environ.get("XINZHENG_REDIS_URL") or None),
            redis_prefix=environ.get("XINZHENG_REDIS_PREFIX") or "xinzheng",
            log_format=_log_format(environ.get("XINZHENG_LOG_FORMAT") or "json"),
        )


def header_timeout(environ: Mapping[str, str]) -> float:
    """XINZHENG_HEADER_TIMEOUT, read by Settings and by each worker's HTTP protocol (app/protocol.py)."""
    return float(_positive_int(environ, "XINZHENG_HEADER_TIMEOUT", 10))


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1")
    return value


def _positive_seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name} must be more than 0 seconds")
    return value


def _origin(raw: str) -> str:
    if any(c.isspace() or c == "+" for c in raw):
        raise ConfigError(f"XINZHENG_AUDIT_ORIGIN must have no spaces or '+' (a name like example.gov.cn/audit), not {raw!r}")
    return raw


def _guessable(secret: str) -> bool:
    """A secret no random generator makes: few distinct characters (32 identical bytes, say), or a
    short run repeated. A random hex secret of 32 bytes has some 16 distinct characters."""
    if len(set(secret)) < MIN_DISTINCT_SECRET_CHARACTERS:
        return True
    return any(secret == (secret[:period] * (len(secret) // period + 1))[: len(secret)] for period in range(1, 17))


def _query_limits(raw: str) -> Limits:
    """`depth=8,aliases=15,root_fields=10,tokens=1000,cost=5000`, any of them; the rest keep their defaults."""
    names = {f.name for f in fields(Limits)}
    given: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in names or not value.strip().isdigit() or int(value) < 1:
            raise ConfigError(
                f"XINZHENG_QUERY_LIMITS: {item!r} is not one of {', '.join(sorted(names))} set to a whole number of at least 1"
            )
        given[name] = int(value)
    return Limits(**given)


def _redis_url(raw: str | None) -> str | None:
    if raw is not None and not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"XINZHENG_REDIS_URL must be a redis://, rediss:// or unix:// URL, not {raw.split('://')[0]!r}")
    return raw


LOG_FORMATS = ("json", "console")


def _log_format(raw: str) -> str:
    if raw not in LOG_FORMATS:
        raise ConfigError(f"XINZHENG_LOG_FORMAT must be 'json' or 'console', not {raw!r}")
    return raw


def _dev_secret() -> str:
    """The dev HMAC secret: made on first use, kept in var/ (git-ignored), never committed."""
    return dev_material(DEV_SECRET_FILE, lambda: secrets.token_urlsafe(48))


def dev_material(path: Path, make: Callable[[], str]) -> str:
    """A dev-only secret kept in a file under var/: made at first use, the same for every process."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    # Written whole to a private temp file, then linked into place: a process starting at
    # the same moment either sees no file or the whole secret, and both agree on one.
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    try:
        os.link(tmp, path)
    except FileExistsError:
        value = path.read_text().strip()
    finally:
        tmp.unlink()
    return value
