"""`xinzheng import FILE...` as an operator runs it: all or nothing, every bad line named."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jwt
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from app import clock
from app.certificates.keys import jwks
from app.certificates.signing import payload_mismatches, verify_document
from app.db.models import Certificate
from app.identifiers import parse_certificate_identifier
from app.imports.certificate import signed_content
from tests.cli.conftest import row_counts, table_contents, write_jsonl, xinzheng
from tests.cli.lines import (
    ALICE,
    AUTHORITIES,
    BANK,
    BOB,
    FIRM,
    MARKET_REGULATOR,
    NOBODY,
    POLICE,
    certificate,
    consent,
    credit_flag,
    day,
    enterprise,
    licence,
    penalty,
    person,
)

P, E = "PERSON", "ENTERPRISE"


def a_good_city() -> list[dict[str, Any]]:
    """Every kind once; references ahead of what they name, as exports often come."""
    return [
        enterprise(FIRM, rep=BOB),  # its legal representative comes later
        licence("杭市监许〔1〕号", P, ALICE),  # so does its holder
        person(ALICE, "王芳", phone="13805710028", address="杭州市西湖区文三路90号"),
        person(BOB, "李明"),
        penalty("杭市监罚〔1〕号", P, BOB, "SERIOUS"),
        penalty("杭市监罚〔2〕号", E, FIRM, "GENERAL", decided_on=day(-400), status="REPAIRED", repaired_on=day(-200)),
        certificate("ID_CARD", ALICE, P, ALICE, POLICE),
        certificate("BUSINESS_LICENCE", FIRM, E, FIRM, MARKET_REGULATOR, valid_until=None),
        consent("consent-alice-bank", P, ALICE),
        credit_flag(E, FIRM, "TAX_A_GRADE"),
        *AUTHORITIES,  # the authorities last of all
    ]


async def query(database_url: str, sql: str) -> list[Any]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(sql)))
    finally:
        await engine.dispose()


async def test_a_good_file_is_imported_and_importing_it_again_changes_nothing(empty_database_url: str, tmp_path: Path) -> None:
    url = empty_database_url
    city = write_jsonl(tmp_path / "city.jsonl", a_good_city())

    done = xinzheng("import", str(city), database_url=url)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported 13 record(s)")
    assert done.stderr == ""  # a small file shows no progress
    counts = await row_counts(url)
    assert {k: counts[k] for k in ("authorities", "persons", "enterprises", "licences", "penalties")} == {
        "authorities": 3, "persons": 2, "enterprises": 1, "licences": 1, "penalties": 2,
    }  # fmt: skip
    assert (counts["certificates"], counts["consents"], counts["credit_flags"]) == (2, 1, 1)
    alice = (await query(url, f"select gender, birth_date, phone from persons where id_number = '{ALICE}'"))[0]
    assert (alice.gender, str(alice.birth_date), alice.phone) == ("FEMALE", "1985-03-12", "13805710028")
    consents = await query(url, "select holder_id, grantee_code, purposes, valid_until from consents")
    assert [(c.holder_id, c.grantee_code) for c in consents] == [(ALICE, BANK)]
    assert "LOAN_APPROVAL" in str(consents[0].purposes) and consents[0].valid_until is not None
    scores = {r.holder_id: r for r in await query(url, "select holder_id, score, factors from credit_scores")}
    assert set(scores) == {ALICE, BOB, FIRM}
    assert "PENALTY_SERIOUS" in str(scores[BOB].factors) and "TAX_A_GRADE" in str(scores[FIRM].factors)

    before = await table_contents(url)
    again = xinzheng("import", str(city), database_url=url)
    assert again.returncode == 0, again.stderr
    assert await table_contents(url) == before


async def test_certificates_without_a_document_are_signed_by_their_issuer(empty_database_url: str, tmp_path: Path) -> None:
    url = empty_database_url
    done = xinzheng("import", str(write_jsonl(tmp_path / "city.jsonl", a_good_city())), database_url=url)
    assert done.returncode == 0, done.stderr

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            keys = await jwks(conn)
            rows = list(await conn.execute(select(Certificate.__table__)))
    finally:
        await engine.dispose()
    assert {k["kid"].split(".")[0] for k in keys["keys"]} == {POLICE, MARKET_REGULATOR}
    for row in rows:
        identifier = parse_certificate_identifier(row.identifier)  # made per GB/T 36904
        assert (identifier.issuer_code, identifier.serial, identifier.version) == (row.issuer_code, row.number, "001")
        payload = verify_document(row.document, keys)
        assert payload_mismatches(payload, signed_content(row._mapping)) == []
        # Each has its entry in its issuer's status list, named in what the issuer signed.
        assert payload["status"] == {
            "status_list": {"idx": row.status_index, "uri": f"/status-lists/{row.issuer_code}/{row.status_list}"}
        }
        assert row.kid == jwt.get_unverified_header(row.document)["kid"]
    assert len({(r.issuer_code, r.status_list, r.status_index) for r in rows}) == len(rows)


async def test_a_bad_input_names_every_bad_line_and_writes_nothing(empty_database_url: str, tmp_path: Path) -> None:
    url = empty_database_url
    first = write_jsonl(
        tmp_path / "first.jsonl",
        [
            AUTHORITIES[0],
            person("330106198503120029", "王芳"),  # 2: wrong check character
            "{not json",  # 3
            {"kind": "spaceship"},  # 4
            licence("L-1", P, ALICE, status="EXPIRED"),  # 5: derived, never imported
            penalty("X-1", P, NOBODY, "SERIOUS", authority_code=MARKET_REGULATOR),  # 6: no such holder
            person(ALICE, "王芳"),  # 7: good
            enterprise(FIRM, rep=NOBODY),  # 8: no such legal representative
            certificate("ID_CARD", FIRM, E, FIRM, POLICE),  # 9: an ID card held by an enterprise
            consent("c-1", P, ALICE, grantee_code="91330100MA2H00002T"),  # 10: grantee not known
            person(ALICE, "王芳"),  # 11: given twice
            licence("L-2", P, ALICE, decided_on="2026-02-30"),  # 12: no such day
            credit_flag(P, ALICE, "HONOUR_LIST", untill=day(3)),  # 13: misspelt field
            "   ",  # 14: blank lines are skipped, not bad
            {k: v for k, v in penalty("X-2", P, ALICE, "MINOR").items() if k != "basis"},  # 15: basis missing
            *AUTHORITIES[1:],
        ],
    )
    second = write_jsonl(
        tmp_path / "second.jsonl",
        [
            licence("L-3", P, ALICE),  # 1: good, its holder is in the other file
            certificate("PASSPORT", "E12345678", P, ALICE, POLICE),  # 2: not in the catalogue
            "placeholder",  # 3: replaced by bytes that are not UTF-8
            penalty("X-3", P, ALICE, "GENERAL", status="REPAIRED"),  # 4: repaired when?
        ],
    )
    second.write_bytes(second.read_bytes().replace(b"placeholder", b'{"kind": "person", "name": "\xff\xfe"}'))
    before = await row_counts(url)

    done = xinzheng("import", str(first), str(second), database_url=url)

    assert done.returncode == 1
    assert done.stdout == ""
    report = done.stderr.strip().splitlines()
    expected = {
        f"{first}:2": "check character",
        f"{first}:3": "not valid JSON",
        f"{first}:4": "kind must be one of authority, person",
        f"{first}:5": "status cannot be EXPIRED: EXPIRED is derived from valid_to",
        f"{first}:6": f"holder PERSON {NOBODY} is not on file, nor given in this import",
        f"{first}:8": f"legal_rep_id_number {NOBODY} is not a person on file",
        f"{first}:9": "a ID_CARD is held by a PERSON, not a ENTERPRISE",
        f"{first}:10": "authority 91330100MA2H00002T is not on file",
        f"{first}:11": f"ID number {ALICE} is also given at {first}:7",
        f"{first}:12": "decided_on must be an ISO 8601 date",
        f"{first}:13": "unknown field(s) untill",
        f"{first}:15": "basis is missing",
        f"{second}:2": "type_code 'PASSPORT' is not in the catalogue",
        f"{second}:3": "not UTF-8 text",
        f"{second}:4": "a REPAIRED penalty needs repaired_on",
    }
    assert len(report) == len(expected) + 1
    for line, (where, why) in zip(report[:-1], expected.items(), strict=True):
        assert line.startswith(f"{where}: ") and why in line, (line, where, why)
    assert report[-1] == f"xinzheng import: {len(expected)} bad line(s) of 20; nothing was written"
    assert await row_counts(url) == before


async def test_text_a_database_would_refuse_and_nesting_past_a_limit_are_bad_lines(
    empty_database_url: str, tmp_path: Path
) -> None:
    """A value PostgreSQL would refuse (NUL in text) or no database can store (a lone surrogate),
    JSON nested deeper than a line needs, and a day past what the rules' arithmetic can carry are
    bad lines: named, and nothing written. Not a failure half-way through the write, a crash of
    the importer, or a record that fails every read of its holder."""
    url = empty_database_url
    nested: dict[str, Any] = {}
    for _ in range(40):
        nested = {"inner": nested}
    card = certificate("ID_CARD", ALICE, P, ALICE, POLICE)
    source = write_jsonl(
        tmp_path / "hostile.jsonl",
        [
            *AUTHORITIES,
            '{"kind": "person", "id_number": "%s", "name": "王\\u0000芳"}' % ALICE,  # 4: NUL, escaped
            '{"kind": "person", "id_number": "%s", "name": "李明", "address": "\\ud800"}' % BOB,  # 5: a lone surrogate
            card | {"data": {"note": ["fine", "not\u0000fine"]}},  # 6: NUL deep in data
            card | {"number": "X1", "data": nested},  # 7: data nested 41 deep
            "[" * 100_000 + "]" * 100_000,  # 8: past Python's recursion limit
            penalty("X-9", P, ALICE, "GENERAL", decided_on="9999-12-31"),  # 9: its publication would end past the calendar
            card | {"number": "X10", "valid_until": "9999-12-31"},  # 10: good: "no end", as registers write it
        ],
    )
    before = await row_counts(url)

    done = xinzheng("import", str(source), database_url=url)

    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"{source}:4: name holds characters that are not text (NUL, or a lone surrogate)",
        f"{source}:5: address holds characters that are not text (NUL, or a lone surrogate)",
        f"{source}:6: data holds characters that are not text (NUL, or a lone surrogate)",
        f"{source}:7: data nests more than 32 levels deep",
        f"{source}:8: not valid JSON: arrays or objects nested too deeply",
        f"{source}:9: decided_on must be a day from 1900-01-01 to 2999-12-31, not '9999-12-31'",
        "xinzheng import: 6 bad line(s) of 10; nothing was written",
    ]
    assert await row_counts(url) == before


async def test_a_document_given_is_checked_against_the_issuers_key_and_the_line(empty_database_url: str, tmp_path: Path) -> None:
    url = empty_database_url
    id_card = certificate("ID_CARD", ALICE, P, ALICE, POLICE)
    first = [*AUTHORITIES, person(ALICE, "王芳"), enterprise(FIRM, rep=ALICE), id_card]
    first.append(certificate("BUSINESS_LICENCE", FIRM, E, FIRM, MARKET_REGULATOR))  # its issuer has a key too
    done = xinzheng("import", str(write_jsonl(tmp_path / "one.jsonl", first)), database_url=url)
    assert done.returncode == 0, done.stderr
    [(document,)] = await query(url, "select document from certificates where type_code = 'ID_CARD'")
    header, payload, signature = document.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]

    lines = [
        {**id_card, "document": document},  # 1: the issuer's own document for this very line
        {**id_card, "number": "330106198503120028B", "document": document},  # 2: another line's document
        {**id_card, "type_code": "DRIVING_LICENCE", "document": f"{header}.{payload}.{flipped}"},  # 3: tampered
        {**id_card, "issuer_code": MARKET_REGULATOR, "document": document},  # 4: claims another issuer
        {**id_card, "issuer_code": BANK, "document": document},  # 5: an issuer with no key on file
    ]
    done = xinzheng("import", str(write_jsonl(tmp_path / "two.jsonl", lines)), database_url=url)

    assert done.returncode == 1
    report = done.stderr.splitlines()
    assert [line.split(": ")[0] for line in report[:-1]] == [f"{tmp_path}/two.jsonl:{n}" for n in (2, 3, 4, 5)]
    assert "differs from this line in identifier, number" in report[0]
    assert "signature does not verify" in report[1]
    assert "differs from this line in identifier, issuer_code" in report[2]
    assert f"no signing key of issuer {BANK} is on file" in report[3]

    before = await table_contents(url)
    done = xinzheng("import", str(write_jsonl(tmp_path / "three.jsonl", lines[:1])), database_url=url)
    assert done.returncode == 0, done.stderr
    assert await table_contents(url) == before  # the same document, kept as given


async def test_a_later_import_may_refer_to_what_is_on_file_and_rescores_it(empty_database_url: str, tmp_path: Path) -> None:
    url = empty_database_url
    done = xinzheng("import", str(write_jsonl(tmp_path / "city.jsonl", a_good_city())), database_url=url)
    assert done.returncode == 0, done.stderr
    [(old,)] = await query(url, f"select score from credit_scores where holder_id = '{ALICE}'")

    later = [penalty("杭市监罚〔3〕号", P, ALICE, "SERIOUS"), penalty("杭市监罚〔4〕号", P, ALICE, "GENERAL")]
    done = xinzheng("import", str(write_jsonl(tmp_path / "later.jsonl", later)), database_url=url)

    assert done.returncode == 0, done.stderr
    [(new,)] = await query(url, f"select score from credit_scores where holder_id = '{ALICE}'")
    assert new == old - 120 - 40


def test_an_unmigrated_database_or_a_missing_file_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    city = write_jsonl(tmp_path / "city.jsonl", AUTHORITIES)

    done = xinzheng("import", str(city), database_url=url)
    assert done.returncode == 1
    assert done.stderr.strip() == "xinzheng import: the database has no schema yet: run `xinzheng migrate` first"

    done = xinzheng("import", str(tmp_path / "missing.jsonl"), database_url=url)
    assert done.returncode == 1
    assert done.stderr.strip() == f"xinzheng import: {tmp_path / 'missing.jsonl'}: no such file"

    done = xinzheng("import", str(tmp_path), database_url=url)
    assert done.returncode == 1
    assert done.stderr.strip() == f"xinzheng import: {tmp_path}: a directory, not a file of lines"


def test_today_is_not_hidden_in_the_lines() -> None:
    """Guard for the tests above: their dates move with the day they run, and it is the day as the
    service counts it (China Standard Time), not the machine's (the day may turn during the run)."""
    assert day(0) in {(clock.today() - dt.timedelta(days=n)).isoformat() for n in (0, 1)}


async def test_an_enterprise_status_may_be_the_registers_own_word(empty_database_url: str, tmp_path: Path) -> None:
    url = empty_database_url
    terms = {"存续": "ACTIVE", "在业": "ACTIVE", "停业": "SUSPENDED", "吊销": "REVOKED", "注销": "CANCELLED", "迁出": "MOVED_OUT"}
    codes = [
        "91330106MA2H100016",
        "91330106MA2H100029",
        "91330106MA2H10003C",
        "91330106MA2H10004F",
        "91330106MA2H10005J",
        "91330106MA2H10006M",
    ]
    lines = [person(BOB, "李明"), *[enterprise(code, rep=BOB, status=term) for code, term in zip(codes, terms, strict=True)]]
    done = xinzheng("import", str(write_jsonl(tmp_path / "register.jsonl", lines)), database_url=url)
    assert done.returncode == 0, done.stderr
    stored = dict(await query(url, "select credit_code, status from enterprises"))
    assert stored == dict(zip(codes, terms.values(), strict=True))

    bad = write_jsonl(tmp_path / "bad.jsonl", [enterprise(FIRM, rep=BOB, status="在营")])
    done = xinzheng("import", str(bad), database_url=url)
    assert done.returncode == 1
    assert (
        "status must be one of ACTIVE, SUSPENDED, REVOKED, CANCELLED, MOVED_OUT, 存续, 在业, 停业, 吊销, 注销, 迁出, not '在营'"
        in done.stderr
    )
