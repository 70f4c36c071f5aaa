"""The shortcuts in front of the audit log's regexes decide what the regexes would: `is_text`
as NOT_TEXT's search, `may_hold_credential` never False where CREDENTIAL matches, for any text
hypothesis draws from the pieces that matter (the credentials' openings in every case, the
characters IGNORECASE takes for their letters, NUL, surrogates, other non-ASCII)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from app.audit.redact import CREDENTIAL, may_hold_credential, scrubbed
from app.identifiers import NOT_TEXT, is_text

PIECES = [
    "-----BEGIN ", "-----BEGIN", "-----END ", "-----", "eyJ", "eyj", "EYJ", "ey", "J", ".", "_", "-",
    "bearer", "Bearer", "BEARER", "bEaReR", "basic", "Basic", "BASIC", "baſic", "baſıc", "basİc", "bas", "ic",
    "b", "B", " ", "\t", "\n", "\r", "abc", "Zz09", "+/=", "~", "query { me }", "\x00", "\ud800", "\udfff", "é", "信",
]  # fmt: skip
texts = st.lists(st.sampled_from(PIECES), max_size=12).map("".join) | st.text(max_size=40)
SETTINGS = settings(max_examples=2000, deadline=None, derandomize=True, database=None)


@SETTINGS
@given(texts)
def test_is_text_is_the_regex(text: str) -> None:
    assert is_text(text) == (NOT_TEXT.search(text) is None)


@SETTINGS
@given(texts)
def test_no_credential_where_the_shortcut_says_none(text: str) -> None:
    if not may_hold_credential(text):
        assert CREDENTIAL.search(text) is None
    assert scrubbed(text) == CREDENTIAL.sub("[redacted]", text)


def test_the_cases_lower_does_not_fold_are_left_to_the_regex() -> None:
    for text in ("Authorization: baſic abc", "basİc abc", "bearer\u0131"):
        assert may_hold_credential(text)
    assert scrubbed("x baſic dXNlcjpwYXNz y") == "x [redacted] y"
