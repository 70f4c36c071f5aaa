"""The Token Status List encoding, byte for byte against draft-ietf-oauth-status-list's own vectors.

The vectors are the draft's (section 4 "Status List", and the appendix "Test vectors for
Status List encoding", lists of 2^20 entries), copied from its text.
"""

from __future__ import annotations

import base64
import re
import zlib

import pytest

from app.certificates.statuslist import LIST_SIZE, STATUS_VALUES, VALID, StatusList
from app.config import PROJECT_ROOT
from app.db.models.certificate import MARKED_CONDITION

# Section 4: status[0..15] of a 1-bit list are these, and its bytes [0xB9, 0xA3].
ONE_BIT = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
ONE_BIT_LST = "eNrbuRgAAhcBXQ"
# Section 4: a 2-bit list of 12 entries, bytes [0xC9, 0x44, 0xF9].
TWO_BIT = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
TWO_BIT_LST = "eNo76fITAAPfAgc"

# Appendix, 1-bit and 2-bit lists of 2^20 entries; every entry not named is 0.
LONG_SIZE = 2**20
LONG_ONE_BIT = {i: 1 for i in (0, 1993, 25460, 159495, 495669, 554353, 645645, 723232, 854545, 934534, 1000345)}
LONG_ONE_BIT_LST = (
    "eNrt3AENwCAMAEGogklACtKQPg9LugC9k_ACvreiogE"
    "AAKkeCQAAAAAAAAAAAAAAAAAAAIBylgQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAXG9IAAAAAAAAAPwsJAAAAAAAAAAAAAAAvhsSAAAAAAAAAAA"
    "A7KpLAAAAAAAAAAAAAAAAAAAAAJsLCQAAAAAAAAAAADjelAAAAAAAAAAAKjDMAQAAA"
    "ACAZC8L2AEb"
)
LONG_TWO_BIT = {
    0: 0b01, 1993: 0b10, 25460: 0b01, 159495: 0b11, 495669: 0b01, 554353: 0b01,
    645645: 0b10, 723232: 0b01, 854545: 0b01, 934534: 0b10, 1000345: 0b11,
}  # fmt: skip
LONG_TWO_BIT_LST = (
    "eNrt2zENACEQAEEuoaBABP5VIO01fCjIHTMStt9ovGV"
    "IAAAAAABAbiEBAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEB5WwIAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAID0ugQAAAAAAAAAAAAAAAAAQG12SgAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAOCSIQEAAAAAAAAAAAAAAAAAAAAAAAD8ExIAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAwJEuAQAAAAAAAAAAAAAAAAAAAAAAAMB9S"
    "wIAAAAAAAAAAAAAAAAAAACoYUoAAAAAAAAAAAAAAEBqH81gAQw"
)


def filled(size: int, bits: int, values: dict[int, int] | list[int]) -> StatusList:
    statuses = StatusList(size, bits)
    for index, value in (values.items() if isinstance(values, dict) else enumerate(values)):
        statuses.set(index, value)
    return statuses


def test_the_one_bit_example_packs_and_encodes_as_the_draft_says() -> None:
    statuses = filled(16, 1, ONE_BIT)
    assert statuses.to_bytes() == bytes([0xB9, 0xA3])
    assert statuses.encode() == ONE_BIT_LST


def test_the_two_bit_example_packs_and_encodes_as_the_draft_says() -> None:
    statuses = filled(12, 2, TWO_BIT)
    assert statuses.to_bytes() == bytes([0xC9, 0x44, 0xF9])
    assert statuses.encode() == TWO_BIT_LST
    assert statuses.to_json() == {"bits": 2, "lst": TWO_BIT_LST}


@pytest.mark.parametrize(
    ("bits", "values", "lst"), [(1, LONG_ONE_BIT, LONG_ONE_BIT_LST), (2, LONG_TWO_BIT, LONG_TWO_BIT_LST)]
)
def test_the_appendix_vectors_of_a_million_entries_encode_byte_for_byte(
    bits: int, values: dict[int, int], lst: str
) -> None:
    assert filled(LONG_SIZE, bits, values).encode() == lst


@pytest.mark.parametrize(("bits", "values", "lst"), [(1, ONE_BIT, ONE_BIT_LST), (2, TWO_BIT, TWO_BIT_LST)])
def test_the_drafts_lists_decode_to_their_entries(bits: int, values: list[int], lst: str) -> None:
    statuses = StatusList.decode(lst, bits, len(values))
    assert [statuses.get(i) for i in range(len(values))] == values


def test_the_long_two_bit_vector_decodes_to_exactly_its_entries() -> None:
    statuses = StatusList.decode(LONG_TWO_BIT_LST, 2)
    assert statuses.size == LONG_SIZE
    assert {i: v for i, v in enumerate(statuses.to_bytes()) if v} == {
        i * 2 // 8: v << (i * 2 % 8) for i, v in LONG_TWO_BIT.items()
    }


def test_lst_is_zlib_in_base64url_without_padding() -> None:
    lst = filled(LIST_SIZE, 2, {5: 1, 70_000: 2}).encode()
    assert "=" not in lst and "+" not in lst and "/" not in lst
    raw = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
    assert len(raw) == LIST_SIZE * 2 // 8
    assert raw[1] == 1 << 2 and raw[17_500] == 2


def test_setting_an_entry_leaves_its_neighbours_alone() -> None:
    statuses = filled(8, 2, [3] * 8)
    statuses.set(2, 1)
    assert [statuses.get(i) for i in range(8)] == [3, 3, 1, 3, 3, 3, 3, 3]


@pytest.mark.parametrize("index", [-1, 12])
def test_an_index_outside_the_list_is_refused(index: int) -> None:
    with pytest.raises(IndexError):
        StatusList(12, 2).set(index, 1)


def test_a_value_wider_than_the_entries_is_refused() -> None:
    with pytest.raises(ValueError):
        StatusList(12, 2).set(0, 4)


def test_the_marked_condition_names_every_status_whose_entry_is_not_valid() -> None:
    """A published list reads only the certificates this condition (and its partial index) picks:
    a status left out would be published VALID."""
    named = set(re.findall(r"'(\w+)'", MARKED_CONDITION))
    assert named == {status.value for status, value in STATUS_VALUES.items() if value != VALID}
    migration = PROJECT_ROOT / "migrations" / "versions" / "20261202_9b3e5d7a2c10_certificates_marked_index.py"
    assert f'"{MARKED_CONDITION}"' in migration.read_text(encoding="utf-8")  # the index the query matches
