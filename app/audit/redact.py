"""What the audit log keeps of text a caller chose: nothing that works as a credential, and
only text a database can store.

- Credentials are recognised by their shape wherever they are, not only by the name of the
  variable that holds them: a compact JWS or JWE (three to five base64url parts, the first a
  JSON header, so `eyJ`), an `Authorization` value (`Bearer ...`, `Basic ...`), a PEM block.
  In variables, a long run of base64 characters that mixes cases and digits and is as varied
  as random bytes (an API key, a session id) is one too; identifiers of this service (ID
  numbers, credit codes: 18 characters; certificate identifiers: parts between dots) are
  never that long. A variable whose name says it holds a secret is left out whatever it holds.
- Only the variables the executed operation declares are kept: anything else in the body
  never reached a resolver, and is not the log's to keep.
- Text no database stores as given (NUL, which PostgreSQL refuses, and half of a surrogate
  pair, which is not UTF-8) is kept as a visible escape, `\\u0000` or `\\udc00`: the entry
  says what was sent, and can always be written.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from app.identifiers import NOT_TEXT, is_text

REDACTED = "[redacted]"
SECRET_NAME = re.compile(
    r"token|secret|passw|passphrase|document|private|credential|key|authori[sz]ation|jwt|bearer|session|"
    r"cookie|otp|signature",
    re.IGNORECASE,
)
CREDENTIAL = re.compile(
    r"-----BEGIN [^\r\n]{1,64}?-----.*?(?:-----END [^\r\n]{1,64}?-----|\Z)"  # PEM, ended or not
    r"|eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){1,4}"  # JWS (3 parts) and JWE (5), header first
    r"|\b(?i:bearer|basic)\s+[A-Za-z0-9._~+/=-]+",  # an Authorization header's value
    re.DOTALL,
)
# A run of base64 (standard or url-safe) long enough to be a key or a session id.
BASE64_RUN = re.compile(r"[A-Za-z0-9+/_=-]{32,}")
# Random base64 of 32 characters or more: about 4.6 bits per character of its own letters, and a
# new character class every 1.6 characters; 99% of such runs pass both bounds. camelCase words:
# 4.2 to 4.4 bits, a new class every 2.5 characters or more; ID numbers and codes, under 3 bits.
RANDOM_BITS = 4.0
MEAN_CLASS_RUN = 2.2


def storable(text: str) -> str:
    """The text, with any character no database stores written as a visible escape."""
    if is_text(text):
        return text
    return NOT_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def scrubbed(text: str, *, random_runs: bool = False) -> str:
    """The text with anything shaped like a credential replaced by REDACTED."""
    if may_hold_credential(text):
        text = CREDENTIAL.sub(REDACTED, text)
    if random_runs and len(text) >= 32:
        text = BASE64_RUN.sub(lambda m: REDACTED if looks_random(m.group()) else m.group(), text)
    return text


def may_hold_credential(text: str) -> bool:
    """False only where CREDENTIAL cannot match. Each of its matches starts with `-----BEGIN `,
    `eyJ`, or `bearer` or `basic` in any case: in ASCII text (which Python knows without reading
    it, str.isascii) three substring searches and a lower() tell, some thirty times cheaper than
    the regex's scan of a query's text (its alternatives share no first character for it to skip
    to), and every request's query is scrubbed. Text that is not ASCII goes to the regex: under
    IGNORECASE `ſ` is an `s` and `ı`, `İ` are an `i`, which lower() does not make them."""
    if not text.isascii() or "-----BEGIN " in text or "eyJ" in text:
        return True
    lowered = text.lower()
    return "bearer" in lowered or "basic" in lowered


def caller_text(value: str | None, limit: int) -> str | None:
    """Text a caller chose as an entry keeps it: without credentials, storable, cut to its column."""
    if value is None:
        return None
    return storable(scrubbed(value[:limit]))[:limit]


def looks_random(run: str) -> bool:
    """As varied as random base64: both cases, many distinct characters, and the character class
    (upper, lower, digit, other) changing every two characters or so. Words run together
    (camelCase) keep a class for longer; identifiers and hex have one case only."""
    if not (any(c.isupper() for c in run) and any(c.islower() for c in run)):
        return False
    counts, size = Counter(run), len(run)
    bits = -sum(n / size * math.log2(n / size) for n in counts.values())
    changes = sum(_class(a) != _class(b) for a, b in itertools.pairwise(run))
    return bits >= RANDOM_BITS and size / (changes + 1) <= MEAN_CLASS_RUN


def _class(c: str) -> int:
    return 0 if c.isupper() else 1 if c.islower() else 2 if c.isdigit() else 3


def declared_variables(sent: Mapping[str, Any] | None, declared: Iterable[str]) -> dict[str, Any] | None:
    """The variables the operation declares, as the entry keeps them (None: none were sent)."""
    if not sent:
        return None
    kept = {name: _value(name, sent[name]) for name in declared if name in sent}
    return kept or None


def _value(name: str, value: Any) -> Any:
    if SECRET_NAME.search(name):
        return REDACTED
    if isinstance(value, str):
        return storable(scrubbed(value, random_runs=True))
    if isinstance(value, dict):
        return {storable(k): _value(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_value("", v) for v in value]
    return value
