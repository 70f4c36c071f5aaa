"""JWT bearer tokens (SPEC section 8): minting for dev, verification for every request."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from app.auth.roles import ORG_ROLES, Role
from app.config import Settings
from app.i18n import Localised
from app.identifiers import InvalidIdentifier, parse_credit_code, parse_id_number

REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub", "role"]
DEFAULT_TTL = dt.timedelta(hours=1)
# Tokens verified recently, kept until they expire: a client sends the same token with every
# request, and checking its signature and claims again cost more than a planned query's fields.
VERIFIED_CACHE_SIZE = 4096


class InvalidToken(Localised):
    """The token is not one this service accepts; the message (a text of app/i18n) says why, safe to show."""


@dataclass(frozen=True)
class Principal:
    """Who the service thinks is calling."""

    role: Role
    sub: str | None = None
    org: str | None = None
    id_number: str | None = None


PUBLIC = Principal(role=Role.PUBLIC)


class TokenVerifier:
    """Verifies bearer tokens with the one key and algorithm the settings allow.

    A token that passed is remembered (by its whole text, signature included) with its
    expiry; the same token again is accepted without a second check until then, and refused
    as expired after. Only tokens that passed are kept, at most VERIFIED_CACHE_SIZE of them.
    """

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        if settings.jwt_public_key:
            self.key: object = load_pem_public_key(settings.jwt_public_key.encode())
            self.algorithms = [_algorithm_for(self.key)]
        else:
            assert settings.jwt_secret
            self.key = settings.jwt_secret
            self.algorithms = ["HS256"]

    def verify(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is None:
            known = self._verified[token] = self._check(token)
            if len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)  # the first verified of those kept
        principal, expires = known
        if self._clock() >= expires:
            self._verified.pop(token, None)
            raise InvalidToken("auth.token_expired")
        return principal

    def _check(self, token: str) -> tuple[Principal, float]:
        """The token's principal and expiry, if its signature and claims hold (expiry aside)."""
        # `algorithms` is a fixed one-item list: `alg: none` and any other algorithm fail here.
        # The expiry is checked by `verify`, on this verifier's clock, for remembered tokens too.
        try:
            claims = jwt.decode(
                token,
                self.key,  # type: ignore[arg-type]
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS, "verify_exp": False},
            )
        except jwt.InvalidTokenError as e:
            raise InvalidToken("auth.token_invalid", detail=str(e)) from None
        expires = claims["exp"]
        if type(expires) not in (int, float):
            raise InvalidToken("auth.token_exp_not_number")
        return principal_from_claims(claims), float(expires)


def principal_from_claims(claims: dict[str, object]) -> Principal:
    try:
        role = Role(str(claims["role"]))
    except ValueError:
        raise InvalidToken("auth.unknown_role", role=claims["role"]) from None
    if role is Role.PUBLIC:
        raise InvalidToken("auth.public_needs_no_token")
    org = claims.get("org")
    id_number = claims.get("id_number")
    try:
        if role in ORG_ROLES:
            if not isinstance(org, str):
                raise InvalidToken("auth.org_missing", role=role)
            org = parse_credit_code(org)
        if role is Role.CITIZEN:
            if not isinstance(id_number, str):
                raise InvalidToken("auth.citizen_id_missing")
            id_number = parse_id_number(id_number)
    except InvalidIdentifier as e:
        raise InvalidToken("auth.token_identifier", why=e.text) from None
    return Principal(
        role=role,
        sub=str(claims["sub"]),
        org=org if isinstance(org, str) else None,
        id_number=id_number if isinstance(id_number, str) else None,
    )


def mint(
    settings: Settings,
    *,
    role: Role,
    org: str | None = None,
    sub: str | None = None,
    id_number: str | None = None,
    ttl: dt.timedelta = DEFAULT_TTL,
    now: dt.datetime | None = None,
) -> str:
    """A token the service accepts, signed with its HMAC secret (XINZHENG_JWT_SECRET when one is
    configured, else the generated dev one). Dev only: prod mints nothing, whatever key it holds."""
    if not settings.is_dev:
        raise InvalidToken("auth.mint_dev_only")
    if settings.jwt_public_key or not settings.jwt_secret:
        raise InvalidToken("auth.mint_public_key")
    now = now or dt.datetime.now(dt.UTC)
    claims: dict[str, object] = {
        "sub": sub or f"{role}-{uuid.uuid4().hex[:8]}",
        "role": str(role),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl,
    }
    if org:
        claims["org"] = org
    if id_number:
        claims["id_number"] = id_number
    principal_from_claims(claims)  # refuse to mint what verification would refuse
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def _algorithm_for(key: object) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ES256"
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    raise ValueError("XINZHENG_JWT_PUBLIC_KEY must be an Ed25519, P-256 or RSA public key")
