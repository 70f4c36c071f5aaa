"""The catalogue of texts (app/i18n): complete in both languages, every text used, every key the
code names present; and how a request's Accept-Language picks the language."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest
from limits.limits import TIME_TYPES

from app.auth.policy import Subject
from app.decisions import InApiWords
from app.errors import Forbidden
from app.execution.limits import NAMES, LimitExceeded, Limits
from app.i18n import CATALOGUE, Language, Text, language_of, render
from app.identifiers import InvalidIdentifier, parse_id_number
from app.imports.fields import BadRecord
from app.imports.kinds import parse_record
from app.imports.record import ParseContext
from app.scoring import rules

APP = Path(__file__).resolve().parents[2] / "app"
SECTIONS = {key.split(".")[0] for key in CATALOGUE}
# Whatever the code raises with a text: the first argument is a key of the catalogue.
LOCALISED_CALLS = {
    "Text", "fail", "Localised", "XinzhengError", "InvalidIdentifier", "InvalidToken", "RequestRefused",
    "Unauthenticated", "Forbidden", "ConsentRequired", "CaseNumberRequired", "BadUserInput", "QueryTooComplex",
    "RateLimited", "AuditUnavailable",
}  # fmt: skip


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def app_sources() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(APP.rglob("*.py"))}


def constants() -> set[str]:
    return {
        node.value
        for tree in app_sources().values()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def dynamic_prefixes() -> set[str]:
    """The keys the code makes as f-strings (`f"factor.{code}"`): the constant they start with."""
    prefixes = set()
    for tree in app_sources().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                head = str(node.values[0].value)
                if head.split(".")[0] in SECTIONS and head.endswith("."):
                    prefixes.add(head)
    return prefixes


def test_every_text_has_both_languages_with_the_same_fields() -> None:
    for key, templates in CATALOGUE.items():
        assert set(templates) == {Language.ZH, Language.EN}, key
        assert fields(templates[Language.ZH]) == fields(templates[Language.EN]), key
        assert not templates[Language.ZH].isascii(), f"{key}: its Chinese is all ASCII"


def test_every_key_the_code_names_is_in_the_catalogue() -> None:
    named = {c for c in constants() if c.split(".")[0] in SECTIONS and "." in c and not c.endswith(".") and " " not in c}
    assert named - set(CATALOGUE) == set()
    prefixes = dynamic_prefixes()
    for path, tree in app_sources().items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            first = node.args[0]
            if name in LOCALISED_CALLS and isinstance(first, ast.JoinedStr):  # only a key made from a code
                head = first.values[0]
                assert isinstance(head, ast.Constant) and str(head.value) in prefixes, f"{path.name}:{node.lineno}: words, not a key"
            if name in LOCALISED_CALLS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                where = f"{path.name}:{node.lineno}: {first.value!r}"
                assert first.value in CATALOGUE, f"{where} is not a key of the catalogue"
                given = given_params(node)
                if given is not None:
                    assert given == fields(CATALOGUE[first.value][Language.EN]), f"{where} is given {sorted(given)}"


def given_params(call: ast.Call) -> set[str] | None:
    """The parameters a call gives its text, where the source says them all: its keywords, or a
    Text's literal dict."""
    if len(call.args) > 1 and isinstance(call.args[1], ast.Dict):
        if not all(isinstance(k, ast.Constant) for k in call.args[1].keys):
            return None
        return {str(k.value) for k in call.args[1].keys if isinstance(k, ast.Constant)}
    if any(k.arg is None for k in call.keywords):  # **params
        return None
    return {str(k.arg) for k in call.keywords}


def test_every_text_is_used() -> None:
    used, prefixes = constants(), dynamic_prefixes()
    unused = [key for key in CATALOGUE if key not in used and not any(key.startswith(p) for p in prefixes)]
    assert unused == []


def test_the_keys_made_from_codes_are_all_there() -> None:
    """The families the code makes keys of: every member has its text, and no text is left over."""
    assert {k for k in CATALOGUE if k.startswith("factor.")} == {f"factor.{code}" for code in rules.CODES}
    assert {k for k in CATALOGUE if k.startswith("subject.")} == {f"subject.{s.value}" for s in Subject}
    assert {k for k in CATALOGUE if k.startswith("rate.unit.")} == {f"rate.unit.{unit}" for unit in TIME_TYPES}
    assert set(NAMES) == {name.replace("_", " ") for name in Limits.__dataclass_fields__}
    assert set(NAMES.values()) <= set(CATALOGUE)
    for name in NAMES:
        assert str(LimitExceeded(name, 1, 2)) == f"the query's {name} is 2, more than the 1 allowed"


def test_a_factor_is_described_in_either_language() -> None:
    assert rules.describe("DISHONEST_DEBTOR", Language.ZH) == "被列为失信被执行人"
    assert rules.describe("DISHONEST_DEBTOR") == "listed as a dishonest judgment debtor (失信被执行人)"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, Language.ZH),
        ("", Language.ZH),
        ("en", Language.EN),
        ("EN-us", Language.EN),
        ("en-GB;q=0.9, zh;q=0.8", Language.EN),
        ("zh-CN,zh;q=0.9,en;q=0.8", Language.ZH),
        ("en, zh", Language.EN),  # the same quality: the one named first
        ("zh, en", Language.ZH),
        ("fr", Language.ZH),
        ("fr, en;q=0.5", Language.EN),
        ("en;q=0", Language.ZH),  # q=0: not acceptable
        ("en;q=2", Language.ZH),  # not a quality: the range counts for nothing
        ("en;q=nan", Language.ZH),
        ("english", Language.ZH),
        ("*", Language.ZH),
        (";;,,=q", Language.ZH),
        ("\x00en", Language.ZH),
    ],
)
def test_the_language_of_an_accept_language_header(header: str | None, language: Language) -> None:
    assert language_of(header) is language


def test_a_text_renders_its_parameters_in_its_language() -> None:
    nested = Text("access.role_cannot_read", {"role": "issuer", "subject": Text("subject.person")})
    assert nested.render(Language.ZH) == "无权访问：issuer 角色不能读取个人数据"
    assert str(nested) == "the issuer role cannot read person data"
    assert render([Text("import.missing", {"name": "a"}), Text("import.required", {"name": "b"})], Language.ZH) == "缺少 a；b 为必填项"


def test_an_error_keeps_its_text_and_reads_as_english() -> None:
    error = Forbidden("access.field_denied", field="Person.phone", role="bank")
    assert error.text.key == "access.field_denied"
    assert str(error) == "Person.phone is not disclosed to the bank role"
    assert error.text.render(Language.ZH) == "无权访问：Person.phone 不向 bank 角色公开"
    with pytest.raises(InvalidIdentifier) as bad:
        parse_id_number("12345")
    assert str(bad.value) == "an ID number has 18 characters, not 5"
    assert bad.value.text.render(Language.ZH) == "身份证号码应为 18 位，而不是 5 位"


def test_a_key_missing_from_the_catalogue_or_a_parameter_is_told_not_raised() -> None:
    assert Text("request.no_such_text", {"x": 1}).render(Language.ZH) == "request.no_such_text {'x': 1}"
    assert Text("request.too_deep", {"x": 1}).render(Language.EN) == "request.too_deep {'x': 1}"


def test_an_import_reason_is_english_in_the_report_and_either_language_through_the_api() -> None:
    line = {"kind": "penalty", "decision_number": "X-1", "holder_kind": "PERSON", "holder_id": "11010519491231002X"}
    with pytest.raises(BadRecord) as bad:
        parse_record(line, ParseContext(catalogue={}))
    assert "severity is missing" in str(bad.value)
    words = InApiWords(bad.value.reasons)
    assert "authorityCode is missing" in words.render(Language.EN)
    assert "缺少 authorityCode" in words.render(Language.ZH)
    assert "；" in words.render(Language.ZH)
