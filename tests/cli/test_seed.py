"""`xinzheng seed [--persons N]` as an operator runs it: the demo city, idempotent."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app import clock
from app.certificates.keys import jwks
from app.certificates.signing import payload_mismatches, verify_document
from app.db.models import Certificate, Consent, CreditFlag, CreditScore, Enterprise, Licence, Penalty, Person
from app.domain.enums import CertificateStatus, HolderKind
from app.domain.rules import certificate_status
from app.identifiers import parse_credit_code, parse_holder_id
from app.imports import synthetic
from app.imports.certificate import signed_content
from tests.cli.conftest import table_contents, xinzheng

WANG, LI, CHEN, ZHAO, LIU = (
    "330106198503120028",
    "330105199007080010",
    "330102197811200046",
    "330104196902050037",
    "11010519491231002X",
)
TEA, FOOD, BUILD = "91330106MA2H100016", "91330104MA2H10002C", "91330105MA2H10003X"
HUIMIN_BANK = "91330100MA2H00001P"


async def read(database_url: str) -> dict[str, list[Any]]:
    """The tables the demo is about, and the published keys."""
    tables = {
        "persons": Person, "enterprises": Enterprise, "licences": Licence, "penalties": Penalty,
        "certificates": Certificate, "consents": Consent, "flags": CreditFlag, "scores": CreditScore,
    }  # fmt: skip
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows: dict[str, list[Any]] = {
                name: list(await conn.execute(select(model.__table__))) for name, model in tables.items()
            }
            rows["jwks"] = [await jwks(conn)]
    finally:
        await engine.dispose()
    return rows


def of(rows: list[Any], holder: str) -> list[Any]:
    return [r for r in rows if r.holder_id == holder]


async def test_seed_loads_the_demo_city_and_seeding_again_changes_nothing(empty_database_url: str) -> None:
    url = empty_database_url

    done = xinzheng("seed", database_url=url)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("seeded the demo city: imported 51 record(s)")
    db = await read(url)
    today = clock.today()
    persons = {p.id_number: p for p in db["persons"]}
    assert set(persons) == {WANG, LI, CHEN, ZHAO, LIU}
    assert persons[LIU].phone is None and persons[WANG].phone and persons[WANG].address
    reps = {e.credit_code: (e.legal_rep_id_number, e.status) for e in db["enterprises"]}
    assert reps == {TEA: (WANG, "ACTIVE"), FOOD: (LI, "ACTIVE"), BUILD: (ZHAO, "REVOKED")}

    # 王芳, the showcase citizen
    assert {c.type_code for c in of(db["certificates"], WANG)} == {
        "ID_CARD", "HOUSEHOLD_REGISTER", "DRIVING_LICENCE", "MARRIAGE",
    }  # fmt: skip
    [consent] = of(db["consents"], WANG)
    assert consent.grantee_code == HUIMIN_BANK and set(consent.purposes) == {"LOAN_APPROVAL", "CREDIT_CARD_APPROVAL"}
    assert [f.flag for f in of(db["flags"], WANG)] == ["HONOUR_LIST"]
    assert len(of(db["licences"], WANG)) == 1
    # 李明, the borrower with a history
    assert Counter((p.severity, p.status) for p in of(db["penalties"], LI)) == Counter(
        {("SERIOUS", "ACTIVE"): 1, ("GENERAL", "REPAIRED"): 1, ("MINOR", "ACTIVE"): 1}
    )
    assert len(of(db["licences"], LI)) == 2
    assert any(c.grantee_code == HUIMIN_BANK and c.revoked_at is None for c in of(db["consents"], LI))
    # 陈静: one certificate revoked, one expired (derived from valid_until), no consents
    statuses = {certificate_status(c.status, c.valid_until, today) for c in of(db["certificates"], CHEN)}
    assert {CertificateStatus.REVOKED, CertificateStatus.EXPIRED} <= statuses
    assert of(db["consents"], CHEN) == []
    # 赵强: a dishonest judgment debtor
    assert [f.flag for f in of(db["flags"], ZHAO)] == ["DISHONEST_DEBTOR"]
    # the enterprises
    assert {c.type_code for c in of(db["certificates"], TEA)} == {"BUSINESS_LICENCE", "FOOD_BUSINESS_LICENCE"}
    assert [f.flag for f in of(db["flags"], TEA)] == ["TAX_A_GRADE"]
    assert {p.severity for p in of(db["penalties"], FOOD)} == {"SERIOUS", "GENERAL"}
    assert [c.grantee_code for c in of(db["consents"], FOOD)] == [HUIMIN_BANK]
    assert len(of(db["penalties"], BUILD)) == 3
    # every subject scored, every certificate signed by its issuer over its own content
    assert {s.holder_id for s in db["scores"]} == {WANG, LI, CHEN, ZHAO, LIU, TEA, FOOD, BUILD}
    for row in db["certificates"]:
        assert payload_mismatches(verify_document(row.document, db["jwks"][0]), signed_content(row._mapping)) == []

    before = await table_contents(url)
    again = xinzheng("seed", database_url=url)
    assert again.returncode == 0, again.stderr
    assert await table_contents(url) == before


async def test_seed_persons_adds_a_valid_synthetic_city_and_seeding_it_again_changes_nothing(
    empty_database_url: str,
) -> None:
    url = empty_database_url

    done = xinzheng("seed", "--persons", "300", database_url=url)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("seeded the demo city and 300 synthetic persons: imported ")
    db = await read(url)
    assert len(db["persons"]) == 300 + 5
    assert 3 + 10 <= len(db["enterprises"]) <= 3 + 60
    for table in ("licences", "penalties", "certificates", "consents", "flags"):
        for row in db[table]:
            parse_holder_id(HolderKind(row.holder_kind), row.holder_id)
    for row in db["enterprises"]:
        parse_credit_code(row.credit_code)
    assert {p.severity for p in db["penalties"]} == {"MINOR", "GENERAL", "SERIOUS"}
    assert {c.grantee_code for c in db["consents"]} == {HUIMIN_BANK, "91330100MA2H00002T"}
    assert len(db["scores"]) == len(db["persons"]) + len(db["enterprises"])

    before = await table_contents(url)
    again = xinzheng("seed", "--persons", "300", database_url=url)
    assert again.returncode == 0, again.stderr
    assert await table_contents(url) == before


def test_the_synthetic_city_is_the_same_for_the_same_size() -> None:
    assert list(synthetic.records(200)) == list(synthetic.records(200))
    assert list(synthetic.records(200)) != list(synthetic.records(201))[: len(list(synthetic.records(200)))]


def test_seed_refuses_a_size_it_cannot_make(tmp_path: Any) -> None:
    """Negative, or more persons than the synthetic ID numbers can tell apart (it would draw for ever)."""
    for persons in ("-1", "50000001", "99999999999999"):
        done = xinzheng("seed", "--persons", persons, database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
        assert (done.returncode, done.stderr.strip()) == (1, "xinzheng seed: --persons must be 0 to 50,000,000")
