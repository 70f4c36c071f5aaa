"""The IETF Token Status List (draft-ietf-oauth-status-list): the encoding, and the signed token.

A status list is a byte array of `size` entries of `bits` bits each (here 2). Entry i sits
in byte i * bits // 8, at bit offset i * bits % 8 counted from the least significant bit:
the first entry is the byte's lowest bits. The array is compressed with DEFLATE in the
zlib format (RFC 1950/1951) at the highest level, as the draft recommends, and written as
base64url without padding: `lst`. Written here rather than taken from a package: the PyPI
ones are pre-release, and zlib and bit packing are small. tests/unit/test_statuslist.py
proves it byte for byte against the draft's own test vectors.

The values (draft section 7.1): 0x00 VALID, 0x01 INVALID, 0x02 SUSPENDED. A certificate
REVOKED or CANCELLED is INVALID (a generic verifier must read both as "not valid"); EXPIRED
is not a status here: a verifier reads it from the document's own validUntil.

Each list has LIST_SIZE entries and each certificate sits at a random index of its issuer's
list, so a verifier fetching the whole list tells nobody which certificate it checks, and a
list's order says nothing about when certificates were issued.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from app.certificates.signing import IssuerKey
from app.domain.enums import CertificateStatus

BITS = 2
LIST_SIZE = 131_072  # entries per list (the draft's privacy considerations: large enough to hide in)
VALID, INVALID, SUSPENDED = 0x00, 0x01, 0x02
TOKEN_TYPE = "statuslist+jwt"
TTL_SECONDS = 300  # how long a verifier may keep a copy before fetching the list again
LIFETIME_SECONDS = 86_400  # `exp`: a copy older than this is no evidence of anything

STATUS_VALUES = {
    CertificateStatus.VALID: VALID,
    CertificateStatus.SUSPENDED: SUSPENDED,
    CertificateStatus.REVOKED: INVALID,
    CertificateStatus.CANCELLED: INVALID,
}


class StatusList:
    """`size` entries of `bits` bits, packed as the draft says."""

    def __init__(self, size: int, bits: int = BITS, data: bytes | None = None) -> None:
        if bits not in (1, 2, 4, 8):
            raise ValueError("bits must be 1, 2, 4 or 8")
        self.size = size
        self.bits = bits
        length = (size * bits + 7) // 8
        if data is not None and len(data) < length:
            raise ValueError(f"{len(data)} bytes hold fewer than {size} entries of {bits} bits")
        self.data = bytearray(data if data is not None else length)

    def _place(self, index: int) -> tuple[int, int]:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} is outside a list of {self.size} entries")
        bit = index * self.bits
        return bit // 8, bit % 8

    def get(self, index: int) -> int:
        byte, shift = self._place(index)
        return (self.data[byte] >> shift) & ((1 << self.bits) - 1)

    def set(self, index: int, value: int) -> None:
        if not 0 <= value < 1 << self.bits:
            raise ValueError(f"{value} does not fit in {self.bits} bits")
        byte, shift = self._place(index)
        mask = ((1 << self.bits) - 1) << shift
        self.data[byte] = (self.data[byte] & ~mask) | (value << shift)

    def to_bytes(self) -> bytes:
        return bytes(self.data)

    def encode(self) -> str:
        """`lst`: zlib (DEFLATE, highest level), then base64url without padding."""
        return base64.urlsafe_b64encode(zlib.compress(self.to_bytes(), 9)).rstrip(b"=").decode()

    def to_json(self) -> dict[str, Any]:
        """The `status_list` claim."""
        return {"bits": self.bits, "lst": self.encode()}

    @classmethod
    def decode(cls, lst: str, bits: int, size: int | None = None) -> StatusList:
        """A list from its `lst`; its size, when not given, is every entry the bytes hold."""
        raw = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
        return cls(size if size is not None else len(raw) * 8 // bits, bits, raw)


def status_list_token(
    key: IssuerKey, *, uri: str, statuses: StatusList, issued_at: int, ttl: int = TTL_SECONDS
) -> str:
    """The signed Status List Token (draft section 5.1) in JWT form: typ statuslist+jwt."""
    claims = {
        "sub": uri,
        "iss": key.authority_code,
        "iat": issued_at,
        "exp": issued_at + LIFETIME_SECONDS,
        "ttl": ttl,
        "status_list": statuses.to_json(),
    }
    return key.sign_bytes(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode(), TOKEN_TYPE)
