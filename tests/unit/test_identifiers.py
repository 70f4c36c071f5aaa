"""Identifiers (SPEC section 2): the spec's vectors pass, every kind of damage is refused."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from stdnum.cn import ric
from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_37_36

from app import clock
from app.domain.enums import Gender, HolderKind
from app.identifiers import (
    CertificateIdentifier,
    InvalidIdentifier,
    birth_date_of,
    credit_code_with_check,
    gender_of,
    id_number_with_check,
    parse_certificate_identifier,
    parse_credit_code,
    parse_holder_id,
    parse_id_number,
)

ID_NUMBERS = ["11010519491231002X", "440524188001010014", "360426199101010071"]
CREDIT_CODES = ["91110000600037341L", "11100000000013338W"]
CERTIFICATES = [
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
]


def other_check(value: str, alphabet: str) -> str:
    """The same identifier with a different (so wrong) check character."""
    return value[:-1] + next(c for c in alphabet if c != value[-1])


@pytest.mark.parametrize("number", ID_NUMBERS)
def test_spec_id_numbers_are_valid(number: str) -> None:
    assert parse_id_number(number) == number


def test_id_number_is_canonical_upper_case_and_trimmed() -> None:
    assert parse_id_number(" 11010519491231002x ") == "11010519491231002X"


def test_gender_and_birth_date_come_from_the_id_number() -> None:
    assert gender_of("11010519491231002X") is Gender.FEMALE  # sequence 002: even
    assert gender_of("440524188001010014") is Gender.MALE  # sequence 001: odd
    assert birth_date_of("11010519491231002X") == dt.date(1949, 12, 31)


@pytest.mark.parametrize("number", ID_NUMBERS)
def test_id_number_with_a_wrong_check_character_is_refused(number: str) -> None:
    with pytest.raises(InvalidIdentifier, match="check character"):
        parse_id_number(other_check(number, "0123456789X"))


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("11010519491231002", "18 characters"),
        ("11010519491231002X1", "18 characters"),
        ("", "18 characters"),
        ("1101051949123100AX", "17 digits"),
        ("11010519491231002Y", "17 digits"),
        ("990105194912310028", "division code"),  # no province 99
        ("000105194912310028", "division code"),
        ("110105194902300028", "birth date"),  # 30 February
        ("110105194913010028", "birth date"),  # month 13
        ("110105179912310028", "plausible"),  # before 1800
    ],
)
def test_malformed_id_numbers_are_refused_with_the_reason(number: str, why: str) -> None:
    with pytest.raises(InvalidIdentifier, match=why):
        parse_id_number(number)


def test_an_id_number_born_in_the_future_is_refused() -> None:
    tomorrow = clock.today() + dt.timedelta(days=1)
    number = id_number_with_check(f"110105{tomorrow:%Y%m%d}002")
    with pytest.raises(InvalidIdentifier, match="plausible"):
        parse_id_number(number)
    assert parse_id_number(number, today=tomorrow) == number


def test_id_number_check_character_is_made_for_synthetic_data() -> None:
    assert id_number_with_check("11010519491231002") == "11010519491231002X"


@pytest.mark.parametrize("code", CREDIT_CODES)
def test_spec_credit_codes_are_valid(code: str) -> None:
    assert parse_credit_code(code) == code
    assert parse_credit_code(code.lower()) == code


@pytest.mark.parametrize("code", CREDIT_CODES)
def test_credit_code_with_a_wrong_check_character_is_refused(code: str) -> None:
    with pytest.raises(InvalidIdentifier, match="check character"):
        parse_credit_code(other_check(code, "0123456789ABCDEFGHJKLMNPQRTUWXY"))


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("9111000060003734", "18 characters"),
        ("91110000600037341L0", "18 characters"),
        ("91110000600O37341L", "cannot contain 'O'"),
        ("9111000060003734IL", "cannot contain 'I'"),
        ("91110000600037341-", "cannot contain '-'"),
    ],
)
def test_malformed_credit_codes_are_refused_with_the_reason(code: str, why: str) -> None:
    with pytest.raises(InvalidIdentifier, match=why):
        parse_credit_code(code)


def test_credit_code_check_character_is_made_for_synthetic_data() -> None:
    assert credit_code_with_check("91110000600037341") == "91110000600037341L"


def test_a_holder_id_follows_the_standard_its_kind_names() -> None:
    assert parse_holder_id(HolderKind.PERSON, "11010519491231002X") == "11010519491231002X"
    assert parse_holder_id(HolderKind.ENTERPRISE, "91110000600037341L") == "91110000600037341L"
    with pytest.raises(InvalidIdentifier):
        parse_holder_id(HolderKind.PERSON, "91110000600037341L")
    with pytest.raises(InvalidIdentifier):
        parse_holder_id(HolderKind.ENTERPRISE, "11010519491231002X")


@pytest.mark.parametrize("identifier", CERTIFICATES)
def test_spec_certificate_identifiers_are_valid_and_round_trip(identifier: str) -> None:
    parsed = parse_certificate_identifier(identifier)
    assert str(parsed) == identifier
    assert parse_certificate_identifier(str(parsed)) == parsed


def test_a_certificate_identifier_is_built_from_its_parts() -> None:
    built = CertificateIdentifier("11100000000013338W011", "11430000006122244L", "20230000403", "001")
    assert str(built) == CERTIFICATES[0]
    assert parse_certificate_identifier(str(built)) == built


def test_the_certificate_check_character_is_iso_7064_mod_37_36_as_stdnum_computes_it() -> None:
    """The check is computed here from a table; python-stdnum's own function is the reference."""
    rng = random.Random(7064)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for _ in range(3000):
        codes = ("".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(17)) for _ in range(2))
        parts = [credit_code_with_check(code) for code in codes]
        serial = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        built = CertificateIdentifier(parts[0] + f"{rng.randrange(1000):03d}", parts[1], serial, "001")
        body = f"{built.type_code}{built.issuer_code}{built.serial}{built.version}"
        assert str(built)[-1] == mod_37_36.calc_check_digit(body)
        assert parse_certificate_identifier(str(built)) == built
        wrong = other_check(str(built), alphabet)
        assert not mod_37_36.is_valid(body + wrong[-1])
        with pytest.raises(InvalidIdentifier, match="check character"):
            parse_certificate_identifier(wrong)


@pytest.mark.parametrize(
    ("identifier", "why"),
    [
        (CERTIFICATES[0][:-1] + "V", "check character"),
        (CERTIFICATES[0].replace("20230000403", "20230000404"), "check character"),
        ("1.2.156.3005.3." + CERTIFICATES[0][15:], "starts with"),
        (CERTIFICATES[0].replace(".001.", ".01."), "3 digits"),
        (CERTIFICATES[0].replace(".001.U", ".U"), "type code, issuer"),
        (CERTIFICATES[0].replace("W011", "W01"), "type code"),
        (CERTIFICATES[0].replace("11430000006122244L", "11430000006122244M"), "issuer|credit code"),
        (CERTIFICATES[0].replace("20230000403", "2023-0403"), "serial"),
    ],
)
def test_malformed_certificate_identifiers_are_refused_with_the_reason(identifier: str, why: str) -> None:
    with pytest.raises(InvalidIdentifier, match=why):
        parse_certificate_identifier(identifier)


@pytest.mark.parametrize("value", [None, 110105194912310028, ["11010519491231002X"]])
def test_identifiers_that_are_not_strings_are_refused_not_crashed_on(value: object) -> None:
    for parse in (parse_id_number, parse_credit_code, parse_certificate_identifier):
        with pytest.raises(InvalidIdentifier):
            parse(value)  # type: ignore[arg-type]


def test_the_birth_date_is_read_as_stdnum_reads_it() -> None:
    """parse_id_number reads the date itself, without stdnum's cleaning of the text; python-stdnum's
    own function is the reference, for dates that exist and for those that do not."""
    rng = random.Random(11643)
    for _ in range(3000):
        digits = f"{rng.randint(1700, 2100)}{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}"
        number = id_number_with_check(f"110105{digits}{rng.randrange(1000):03d}")
        try:
            expected: dt.date | None = ric.get_birth_date(number)
        except ValidationError:
            expected = None
        try:
            parsed = parse_id_number(number, today=dt.date(2100, 12, 31))
        except InvalidIdentifier as e:
            assert expected is None or expected.year < 1800, (number, e)
        else:
            assert parsed == number and birth_date_of(number) == expected
