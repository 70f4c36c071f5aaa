"""Every identifier Xinzheng accepts is validated here, and only here (SPEC section 2).

- citizen ID numbers (公民身份号码, GB 11643-1999)
- Unified Social Credit Codes (统一社会信用代码, GB 32100-2015)
- e-certificate identifiers (电子证照标识, GB/T 36904-2018)

Check characters come from python-stdnum. Its `cn.ric.validate` also checks the birthplace
against a historical register of counties, which rejects numbers the standard accepts (the
spec's own `440524188001010014`), so for ID numbers we keep the structural rules of
GB 11643 and stdnum's check-digit and birth-date parts. The one exception is the ISO 7064
MOD 37,36 check character of certificate identifiers: stdnum's, one `str.index` a character,
was a third of the time of reading a certificate line, so it is stdnum's same recurrence here
with its steps in a table (tests/unit/test_identifiers.py checks that they agree).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from stdnum.cn import ric, uscc

from app import clock
from app.domain.enums import Gender, HolderKind
from app.i18n import Localised, Text


class InvalidIdentifier(Localised, ValueError):
    """An identifier that does not follow its standard; the message (a text of app/i18n) says why."""


# GB/T 2260 province-level codes: the first two digits of every division code.
PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)
EARLIEST_BIRTH_YEAR = 1800
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CERTIFICATE_PREFIX = "1.2.156.3005.2."
# ISO 7064 MOD 37,36 (hybrid system) over these 36 characters: _MOD_37_36_STEP[state][char] is
# the next state, `((state or 36) * 2 % 37 + value(char)) % 36`, starting from 18.
_MOD_37_36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MOD_37_36_STEP = tuple(
    {char: ((state or 36) * 2 % 37 + value) % 36 for value, char in enumerate(_MOD_37_36)} for state in range(36)
)


def _ascii(value: str, what: str) -> None:  # what: a key of the catalogue's [what]
    """Identifiers are ASCII: Python's str.isdigit() also takes full-width (１) and Arabic-Indic
    (١) digits, which would make a second spelling of the same number."""
    if not value.isascii():
        raise InvalidIdentifier("identifier.ascii", what=Text(what))


def parse_id_number(value: str, *, today: dt.date | None = None) -> str:
    """A citizen ID number in canonical form (upper-case X), or InvalidIdentifier."""
    if not isinstance(value, str):
        raise InvalidIdentifier("identifier.id_not_string")
    _ascii(value, "what.id_number")
    number = value.strip().upper()
    if len(number) != 18:
        raise InvalidIdentifier("identifier.id_length", length=len(number))
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidIdentifier("identifier.id_shape")
    if number[:2] not in PROVINCE_CODES:
        raise InvalidIdentifier("identifier.id_division", code=number[:6])
    try:
        born = _birth_date(number)
    except ValueError:
        raise InvalidIdentifier("identifier.id_birth_date", digits=number[6:14]) from None
    if born.year < EARLIEST_BIRTH_YEAR or born > (today or clock.today()):
        raise InvalidIdentifier("identifier.id_birth_implausible", date=born.isoformat())
    if ric.calc_check_digit(number) != number[17]:
        raise InvalidIdentifier("identifier.id_check")
    return number


def _birth_date(number: str) -> dt.date:
    """stdnum's `ric.get_birth_date` (digits 7 to 14), for a number checked as parse_id_number
    checks it: 18 ASCII characters, upper case, stripped. stdnum first cleans the text of Unicode
    dashes and spaces (three generator joins, none of which can change such a number), which was
    two thirds of parsing an ID number, done for every request that names one.
    tests/unit/test_identifiers.py checks that they agree. ValueError for a date that does not exist."""
    return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def gender_of(id_number: str) -> Gender:
    """Digit 17 is the sequence's last digit: odd for men, even for women."""
    return Gender.MALE if int(id_number[16]) % 2 else Gender.FEMALE


def birth_date_of(id_number: str) -> dt.date:
    """The birth date of a checked ID number (`parse_id_number`): an import reads it for every person."""
    return _birth_date(id_number)


def id_number_with_check(body17: str) -> str:
    """Append the check character to 17 digits (for synthetic data)."""
    return body17 + ric.calc_check_digit(body17 + "0")


def parse_credit_code(value: str) -> str:
    """A Unified Social Credit Code in canonical form, or InvalidIdentifier."""
    if not isinstance(value, str):
        raise InvalidIdentifier("identifier.code_not_string")
    _ascii(value, "what.credit_code")
    code = value.strip().upper()
    if len(code) != 18:
        raise InvalidIdentifier("identifier.code_length", length=len(code))
    bad = sorted({c for c in code if c not in USCC_ALPHABET})
    if bad:
        raise InvalidIdentifier("identifier.code_characters", characters="".join(bad))
    if uscc.calc_check_digit(code[:17]) != code[17]:
        raise InvalidIdentifier("identifier.code_check")
    return code


def credit_code_with_check(body17: str) -> str:
    """Append the check character to 17 credit-code characters (for synthetic data)."""
    return body17 + uscc.calc_check_digit(body17)


def parse_holder_id(kind: HolderKind, value: str) -> str:
    """A holder is always a (kind, id) pair: the kind says which standard the id follows."""
    return parse_id_number(value) if kind is HolderKind.PERSON else parse_credit_code(value)


@dataclass(frozen=True)
class CertificateIdentifier:
    """`1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>`."""

    type_code: str  # defining authority's USCC + 3 digits
    issuer_code: str
    serial: str
    version: str  # 3 digits

    def __str__(self) -> str:
        body = f"{self.type_code}{self.issuer_code}{self.serial}{self.version}"
        total = _mod_37_36(body)
        if total is None:
            raise ValueError(f"{body!r} has characters outside ISO 7064 MOD 37,36")
        check = _MOD_37_36[(1 - (total or 36) * 2 % 37) % 36]
        return f"{CERTIFICATE_PREFIX}{self.type_code}.{self.issuer_code}.{self.serial}.{self.version}.{check}"


def _mod_37_36(text: str) -> int | None:
    """The ISO 7064 MOD 37,36 checksum (1 when the last character checks the others), None if a
    character is not one of its 36."""
    state = 18
    step = _MOD_37_36_STEP
    try:
        for char in text:
            state = step[state][char]
    except KeyError:
        return None
    return state


def parse_certificate_identifier(value: str) -> CertificateIdentifier:
    """An e-certificate identifier, parsed, or InvalidIdentifier."""
    if not isinstance(value, str):
        raise InvalidIdentifier("identifier.cert_not_string")
    _ascii(value, "what.certificate_identifier")
    ident = value.strip().upper()
    if not ident.startswith(CERTIFICATE_PREFIX):
        raise InvalidIdentifier("identifier.cert_prefix", prefix=CERTIFICATE_PREFIX)
    parts = ident[len(CERTIFICATE_PREFIX):].split(".")
    if len(parts) != 5:
        raise InvalidIdentifier("identifier.cert_parts")
    type_code, issuer, serial, version, check = parts
    if len(type_code) != 21 or not type_code[18:].isdigit():
        raise InvalidIdentifier("identifier.cert_type_code")
    try:
        parse_credit_code(type_code[:18])
        parse_credit_code(issuer)
    except InvalidIdentifier as e:
        raise InvalidIdentifier("identifier.cert_part", why=e.text) from None
    if not serial or not serial.isalnum() or not serial.isascii():
        raise InvalidIdentifier("identifier.cert_serial")
    if len(version) != 3 or not version.isdigit():
        raise InvalidIdentifier("identifier.cert_version")
    if len(check) != 1 or _mod_37_36(type_code + issuer + serial + version + check) != 1:
        raise InvalidIdentifier("identifier.cert_check")
    return CertificateIdentifier(type_code, issuer, serial, version)


# Characters no database stores as text: NUL (PostgreSQL refuses it) and the halves of surrogate
# pairs (not UTF-8). The one definition: the view's body check and the audit record use it too.
NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


def is_text(value: str) -> bool:
    """No character of NOT_TEXT in the value. Python knows a string is ASCII without reading it
    (str.isascii), and ASCII can hold only NUL, which a byte search finds: on a credit query's
    text that is about a hundred times cheaper than the regex's scan, which every string of
    every request goes through (the body check, the audit entry)."""
    if value.isascii():
        return "\x00" not in value
    return NOT_TEXT.search(value) is None


def parse_text(value: str, what: str, max_length: int) -> str:
    """Free text a caller gives (a search text, a case number): stripped, 1 to `max_length`
    characters, and storable: no NUL (PostgreSQL refuses it in text) and no lone surrogate
    (not UTF-8 at all). Anything else is BAD_USER_INPUT, never a fault of the database.
    `what` names the text: a key of the catalogue's [what] (app/i18n/catalogue.toml)."""
    text = value.strip()
    if not 1 <= len(text) <= max_length:
        raise InvalidIdentifier("identifier.text_length", what=Text(what), max_length=max_length)
    if not is_text(text):
        raise InvalidIdentifier("identifier.text_not_text", what=Text(what))
    return text
