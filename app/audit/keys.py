"""The audit log's checkpoint key: Ed25519, signing the chain's head at intervals."""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.config import DEV_AUDIT_KEY_FILE, ConfigError, Settings, dev_material


def _new_pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


def audit_key(settings: Settings) -> Ed25519PrivateKey:
    """XINZHENG_AUDIT_KEY, or in dev a key made at first use in var/ (prod never makes one)."""
    pem = settings.audit_key_pem
    if pem is None:
        if not settings.is_dev:
            raise ConfigError("prod needs XINZHENG_AUDIT_KEY (an Ed25519 private key, PEM)")
        pem = dev_material(DEV_AUDIT_KEY_FILE, _new_pem)
    elif not settings.is_dev and DEV_AUDIT_KEY_FILE.exists() and DEV_AUDIT_KEY_FILE.read_text().strip() == pem.strip():
        raise ConfigError("XINZHENG_AUDIT_KEY is the generated dev key; prod refuses it")
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError("XINZHENG_AUDIT_KEY must be an Ed25519 private key")
    return key


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_raw(key)).hexdigest()[:16]


def checkpoint_message(seq: int, head_hash: str, at: str) -> bytes:
    return f"xinzheng-audit-checkpoint\n{seq}\n{head_hash}\n{at}".encode()


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.urlsafe_b64encode(key.sign(message)).decode().rstrip("=")


def verify(key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    try:
        key.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), message)
    except (InvalidSignature, ValueError):
        return False
    return True
