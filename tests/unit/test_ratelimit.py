"""Whose count a request goes to, and how long a refused caller waits (app/ratelimit.py)."""

from __future__ import annotations

import pytest

from app.auth.roles import Role
from app.auth.tokens import PUBLIC, Principal
from app.ratelimit import COUNTED_BY, address_key, counted_as, retry_after


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::ffff", "2001:db8:1:2::/64"),
        ("testclient", "testclient"),
        (None, "-"),
    ],
)
def test_the_public_is_counted_by_address_and_ipv6_by_its_64(address: str | None, key: str) -> None:
    assert address_key(address) == key
    assert counted_as(PUBLIC, address) == key


def test_organisations_by_org_people_by_sub() -> None:
    assert counted_as(Principal(Role.BANK, sub="loan-system", org="B1"), "10.0.0.1") == "B1"
    assert counted_as(Principal(Role.CITIZEN, sub="c-1", id_number="X"), "10.0.0.1") == "c-1"
    assert set(COUNTED_BY) == set(Role)  # every role is counted under some name


@pytest.mark.parametrize(
    ("frees_in", "wait"), [(60.0, 61), (59.5, 60), (59.99995, 61), (0.2, 1), (0.0, 1), (-3.0, 1)]
)
def test_retry_after_is_whole_seconds_until_the_slot_is_free(frees_in: float, wait: int) -> None:
    now = 1_750_000_000.25
    assert retry_after(now + frees_in, now) == wait
