"""The certificate rules that need no database: the status state machine, the counter's choice of
the best certificate, and verification's reasons."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from app.certificates.check import DocumentState, best
from app.certificates.status import check_transition
from app.domain.enums import CertificateStatus as S
from app.errors import BadUserInput

TODAY = dt.date(2026, 11, 30)
ALLOWED = {
    (S.VALID, S.SUSPENDED), (S.VALID, S.REVOKED), (S.VALID, S.CANCELLED),
    (S.SUSPENDED, S.VALID), (S.SUSPENDED, S.REVOKED), (S.SUSPENDED, S.CANCELLED),
}  # fmt: skip
STORED = [S.VALID, S.SUSPENDED, S.REVOKED, S.CANCELLED]


@pytest.mark.parametrize("current", STORED)
@pytest.mark.parametrize("new", list(S))
def test_the_state_machine_allows_exactly_its_transitions(current: S, new: S) -> None:
    if (current, new) in ALLOWED:
        check_transition(current, new)
    else:
        with pytest.raises(BadUserInput):
            check_transition(current, new)


def cert(status: str, *, until: int | None = 100, issued: int = -10) -> Any:
    return SimpleNamespace(
        status=status,
        valid_until=TODAY + dt.timedelta(days=until) if until is not None else None,
        issued_on=TODAY + dt.timedelta(days=issued),
    )


def test_nothing_is_missing() -> None:
    assert best([], TODAY) == (DocumentState.MISSING, None)


def test_a_valid_certificate_is_chosen_over_any_other() -> None:
    valid = cert("VALID")
    rows = [cert("REVOKED"), cert("SUSPENDED"), cert("VALID", until=-1), valid, cert("CANCELLED")]
    assert best(rows, TODAY) == (DocumentState.VALID, valid)


def test_then_suspended_then_expired_then_revoked_and_cancelled_reads_revoked() -> None:
    suspended, expired, revoked = cert("SUSPENDED"), cert("VALID", until=-1), cert("REVOKED")
    assert best([revoked, expired, suspended], TODAY) == (DocumentState.SUSPENDED, suspended)
    assert best([revoked, expired], TODAY) == (DocumentState.EXPIRED, expired)
    assert best([cert("CANCELLED")], TODAY)[0] is DocumentState.REVOKED


def test_among_equals_the_one_valid_longest_then_issued_last() -> None:
    short, long, endless = cert("VALID", until=10), cert("VALID", until=1000), cert("VALID", until=None)
    assert best([short, long], TODAY)[1] is long
    assert best([short, long, endless], TODAY)[1] is endless
    older, newer = cert("VALID", issued=-100), cert("VALID", issued=-1)
    assert best([older, newer], TODAY)[1] is newer
