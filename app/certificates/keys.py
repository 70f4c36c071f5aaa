"""Issuer signing keys: where their private halves live, which one signs, rotation, the JWKS.

- dev: a key is made at an issuer's first signature, its private half kept in `signing_keys`
  (DEV/DEMO ONLY: unencrypted, so that this deployment can sign seeded and imported
  certificates itself).
- prod: no private key is ever stored in the database. They are read from
  XINZHENG_SIGNING_KEYS_DIR, one PEM per key (any file name ending in .pem), matched to their
  `signing_keys` row by public key (RFC 7638 thumbprint); `xinzheng keys rotate` writes a new
  one there and registers only its public half. The service refuses to start in prod while
  the database holds a private key (`refuse_stored_private_keys`).

An issuer signs with its newest key not retired. Rotation retires the current key (it signs
nothing more) and makes a new one; a retired key stays in /.well-known/jwks.json for as long
as a certificate it signed is in force (not revoked or cancelled, not past its validUntil),
so that every document in force still verifies offline.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, and_, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.clock import now
from app.db.models import Certificate, SigningKey
from app.domain.enums import CertificateStatus
from app.certificates.signing import (
    ALGORITHM,
    IssuerKey,
    NoPrivateKey,
    PrivateKey,
    generate_key,
    kid_authority,
    load_private_pem,
    private_pem,
    public_jwk,
    thumbprint,
)

signing_keys: Table = SigningKey.__table__
certificates: Table = Certificate.__table__
IN_FORCE_STATUSES = (CertificateStatus.VALID.value, CertificateStatus.SUSPENDED.value)


class KeyConfigError(Exception):
    """The keys directory or the database's keys are not what this deployment needs."""


@dataclass(frozen=True)
class KeyStore:
    """Where this deployment keeps issuers' private keys: the database (dev) or a directory (prod)."""

    in_database: bool = True  # dev: private halves in `signing_keys`
    directory: Path | None = None  # prod: XINZHENG_SIGNING_KEYS_DIR (None: not configured)

    @classmethod
    def for_settings(cls, settings: Any) -> KeyStore:
        if settings.is_dev:
            return cls(True)
        return cls(False, Path(settings.signing_keys_dir) if settings.signing_keys_dir else None)

    def load_directory(self) -> dict[str, PrivateKey]:
        """Every private key in the directory, by its public key's thumbprint."""
        if self.directory is None:
            raise NoPrivateKey("prod reads issuers' private keys from XINZHENG_SIGNING_KEYS_DIR, which is not set")
        if not self.directory.is_dir():
            raise NoPrivateKey(f"XINZHENG_SIGNING_KEYS_DIR ({self.directory}) is not a directory")
        found: dict[str, PrivateKey] = {}
        for path in sorted(self.directory.glob("*.pem")):
            try:
                key = load_private_pem(path.read_bytes())
            except (ValueError, TypeError, OSError) as e:
                raise KeyConfigError(f"{path.name}: not a usable private key ({e})") from None
            found[thumbprint(key.public_key())] = key
        return found

    def write(self, key: PrivateKey, kid: str) -> Path:
        """A new private key into the directory, readable by its owner only."""
        if self.directory is None:
            raise NoPrivateKey("prod writes issuers' private keys to XINZHENG_SIGNING_KEYS_DIR, which is not set")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{kid}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(private_pem(key))
        return path


DEV_KEYS = KeyStore(True)


def new_key_row(authority_code: str, algorithm: str = ALGORITHM, *, store: KeyStore = DEV_KEYS) -> tuple[IssuerKey, dict[str, Any]]:
    """A fresh key for an issuer, and its `signing_keys` row (with the private half only in dev)."""
    private_key = generate_key(algorithm)
    jwk = public_jwk(private_key.public_key(), authority_code)
    row = {
        "kid": jwk["kid"],
        "authority_code": authority_code,
        "algorithm": jwk["alg"],
        "public_jwk": jwk,
        # DEV/DEMO ONLY: unencrypted in the database. Prod writes it to XINZHENG_SIGNING_KEYS_DIR.
        "private_pem": private_pem(private_key) if store.in_database else None,
        "created_at": now(),
        "retired_at": None,
    }
    return IssuerKey(jwk["kid"], authority_code, private_key), row


def _current(authority_code: str) -> Any:
    return (
        select(signing_keys.c.kid, signing_keys.c.private_pem)
        .where(signing_keys.c.authority_code == authority_code, signing_keys.c.retired_at.is_(None))
        .order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid.desc())
        .limit(1)
    )


class KeyRing:
    """Issuer signing keys inside one transaction: each loaded once, made at first need in dev."""

    def __init__(self, conn: AsyncConnection, store: KeyStore = DEV_KEYS) -> None:
        self.conn = conn
        self.store = store
        self._keys: dict[str, IssuerKey] = {}
        self._directory: dict[str, PrivateKey] | None = None

    def cached(self, authority_code: str) -> IssuerKey | None:
        """The issuer's key if this ring has already loaded or made it (no database needed)."""
        return self._keys.get(authority_code)

    async def signing_key(self, authority_code: str) -> IssuerKey:
        """The issuer's current signing key (its newest not retired); in dev, made now if it has none."""
        key = self._keys.get(authority_code)
        if key is not None:
            return key
        row = (await self.conn.execute(_current(authority_code))).first()
        if row is None:
            if not self.store.in_database:
                raise NoPrivateKey(f"{authority_code} has no signing key: run `xinzheng keys rotate --authority {authority_code}`")
            key, new = new_key_row(authority_code)
            await self.conn.execute(insert(signing_keys), [new])
        else:
            key = IssuerKey(row.kid, authority_code, self._private(row.kid, row.private_pem))
        self._keys[authority_code] = key
        return key

    def _private(self, kid: str, pem: str | None) -> PrivateKey:
        if self.store.in_database:
            if not pem:
                raise NoPrivateKey(f"{kid_authority(kid)} signs its own certificates: its private key is not held here")
            return load_private_pem(pem.encode())
        if self._directory is None:
            self._directory = self.store.load_directory()
        private = self._directory.get(kid.split(".", 1)[1])
        if private is None:
            raise NoPrivateKey(f"the private key of {kid} is not in XINZHENG_SIGNING_KEYS_DIR")
        return private


async def rotate(conn: AsyncConnection, authority_code: str, algorithm: str = ALGORITHM, *, store: KeyStore = DEV_KEYS) -> str:
    """Retire the issuer's current key and make a new one; the new kid."""
    at = now()
    await conn.execute(
        update(signing_keys)
        .where(signing_keys.c.authority_code == authority_code, signing_keys.c.retired_at.is_(None))
        .values(retired_at=at)
    )
    key, row = new_key_row(authority_code, algorithm, store=store)
    row["created_at"] = at
    if not store.in_database:
        store.write(key.private_key, key.kid)
    await conn.execute(insert(signing_keys), [row])
    return key.kid


def _in_force(today: dt.date) -> Any:
    return and_(
        certificates.c.kid == signing_keys.c.kid,
        certificates.c.status.in_(IN_FORCE_STATUSES),
        or_(certificates.c.valid_until.is_(None), certificates.c.valid_until >= today),
    )


async def jwks(conn: AsyncConnection, today: dt.date | None = None) -> dict[str, list[dict[str, Any]]]:
    """The published JWK Set: every current key, and each retired one a document in force needs."""
    today = today or now().date()
    rows = await conn.execute(
        select(signing_keys.c.public_jwk)
        .where(or_(signing_keys.c.retired_at.is_(None), exists().where(_in_force(today))))
        .order_by(signing_keys.c.authority_code, signing_keys.c.created_at, signing_keys.c.kid)
    )
    return {"keys": [dict(r.public_jwk) for r in rows]}


async def all_public_keys(conn: AsyncConnection) -> dict[str, list[dict[str, Any]]]:
    """Every key on file, retired or not (to verify online what was ever signed here)."""
    rows = await conn.execute(select(signing_keys.c.public_jwk))
    return {"keys": [dict(r.public_jwk) for r in rows]}


async def key_list(conn: AsyncConnection, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Every key, with how many certificates in force it signed (for `xinzheng keys list`)."""
    today = today or now().date()
    in_force = (
        select(func.count()).select_from(certificates).where(_in_force(today)).scalar_subquery()
    )
    rows = await conn.execute(
        select(
            signing_keys.c.kid,
            signing_keys.c.authority_code,
            signing_keys.c.algorithm,
            signing_keys.c.created_at,
            signing_keys.c.retired_at,
            in_force.label("in_force"),
        ).order_by(signing_keys.c.authority_code, signing_keys.c.created_at, signing_keys.c.kid)
    )
    return [dict(r._mapping) for r in rows]


async def refuse_stored_private_keys(conn: AsyncConnection) -> None:
    """Prod: a private key in the database is a key anyone with a backup holds. Refuse to start."""
    count = (
        await conn.execute(select(func.count()).select_from(signing_keys).where(signing_keys.c.private_pem.is_not(None)))
    ).scalar_one()
    if count:
        raise KeyConfigError(
            f"the database holds {count} private signing key(s); prod reads them from XINZHENG_SIGNING_KEYS_DIR only"
        )


async def check_keys_at_start(engine: AsyncEngine, store: KeyStore) -> None:
    """At start-up: prod (keys outside the database) refuses to run on a database holding one."""
    if not store.in_database:
        async with engine.connect() as conn:
            await refuse_stored_private_keys(conn)
