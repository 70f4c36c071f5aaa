"""A small city for the API tests, written as an import file (SPEC section 8).

Dates are relative to the day the tests run, so that every rule that depends on "today"
(publication windows, retention, expiry, consent validity) answers the same on any day.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from app import clock

# The day as the service counts it (China Standard Time), not the machine's: they differ for
# eight hours a day.
TODAY = clock.today()


def days(n: int) -> str:
    return (TODAY + dt.timedelta(days=n)).isoformat()


def stamp(n: int) -> str:
    return f"{days(n)}T09:00:00+08:00"


BANK = "91330100MA2H00001P"  # 惠民银行
OTHER_BANK = "91330100MA2H00002T"  # 钱江银行
COUNTER = "11330106MB1A00003N"  # 西湖区行政服务中心
MARKET_REGULATOR = "113301000024891238"  # 杭州市市场监督管理局 (issuer)
POLICE = "113301000024891313"  # 杭州市公安局 (issuer)

CITIZEN = "330106198503120028"  # 王芳: the signed-in citizen, represents TEA
BORROWER = "330105199007080010"  # 李明: a borrower with a history, represents FOOD
STRANGER = "11010519491231002X"  # 刘秀英: nobody's business

TEA = "91330106MA2H100016"  # 西湖龙井茶业有限公司: consents to BANK, its representative does not
FOOD = "91330104MA2H10002C"  # 钱塘食品有限公司: consents to BANK, and so does its representative
LOGISTICS = "91330105MA2H10003X"  # 拱墅物流有限公司: the borrower's too, no consent to anyone
SEARCH_PREFIX = "测试商贸"  # enterprises named 测试商贸00 .. 测试商贸24, for paging
PAGED_ENTERPRISES = 25
PAGED_LAST = "91330108MA2H200246"  # 测试商贸24有限公司
POLICE_PENALTY = "杭公罚〔矩阵〕1号"
POLICE_LICENCE = "杭公许〔矩阵〕1号"

CONSENT_OK = "consent-borrower-loan"
CONSENT_REVOKED = "consent-borrower-revoked"
CONSENT_EXPIRED = "consent-borrower-expired"
CONSENT_OTHER_BANK = "consent-borrower-other-bank"
CONSENT_CARD_ONLY = "consent-borrower-card-only"
CONSENT_FOOD = "consent-food-loan"
CONSENT_TEA = "consent-tea-loan"



def records() -> list[dict[str, Any]]:
    r: list[dict[str, Any]] = [
        {"kind": "authority", "code": BANK, "name": "惠民银行", "authority_type": "BANK"},
        {"kind": "authority", "code": OTHER_BANK, "name": "钱江银行", "authority_type": "BANK"},
        {"kind": "authority", "code": COUNTER, "name": "西湖区行政服务中心", "authority_type": "AGENCY"},
        {"kind": "authority", "code": MARKET_REGULATOR, "name": "杭州市市场监督管理局", "authority_type": "ISSUER",
         "certificate_types": ["BUSINESS_LICENCE", "FOOD_BUSINESS_LICENCE"]},
        {"kind": "authority", "code": POLICE, "name": "杭州市公安局", "authority_type": "ISSUER",
         "certificate_types": ["ID_CARD", "HOUSEHOLD_REGISTER", "DRIVING_LICENCE"]},
        {"kind": "person", "id_number": CITIZEN, "name": "王芳", "phone": "13800138000", "address": "杭州市西湖区文三路1号"},
        {"kind": "person", "id_number": BORROWER, "name": "李明", "phone": "13912345678", "address": "杭州市上城区解放路2号"},
        {"kind": "person", "id_number": STRANGER, "name": "刘秀英"},
    ]
    for code, name, rep in (
        (TEA, "西湖龙井茶业有限公司", CITIZEN),
        (FOOD, "钱塘食品有限公司", BORROWER),
        (LOGISTICS, "拱墅物流有限公司", BORROWER),
    ):
        r.append(enterprise(code, name, rep))
    from app.identifiers import credit_code_with_check

    for i in range(PAGED_ENTERPRISES):
        r.append(enterprise(credit_code_with_check(f"91330108MA2H2{i:04d}"), f"{SEARCH_PREFIX}{i:02d}有限公司", STRANGER))
    r += [
        # The police's own records, for the issuer's mutations (tests/api/test_policy_matrix.py).
        penalty(POLICE_PENALTY, "ENTERPRISE", PAGED_LAST, "GENERAL", -200) | {"authority_code": POLICE},
        licence(POLICE_LICENCE, "ENTERPRISE", PAGED_LAST, valid_to=None) | {"authority_code": POLICE},
    ]
    r += [
        penalty("杭市监罚〔近〕1号", "PERSON", BORROWER, "SERIOUS", -100),
        penalty("杭市监罚〔近〕2号", "PERSON", BORROWER, "GENERAL", -400, status="REPAIRED", repaired_on=days(-200)),
        penalty("杭市监罚〔近〕3号", "PERSON", BORROWER, "MINOR", -30),
        penalty("杭市监罚〔旧〕4号", "PERSON", BORROWER, "SERIOUS", -6 * 366),
        penalty("杭市监罚〔近〕5号", "ENTERPRISE", FOOD, "GENERAL", -60),
        penalty("杭市监罚〔近〕6号", "ENTERPRISE", FOOD, "MINOR", -60),  # never published
        penalty("杭市监罚〔近〕7号", "ENTERPRISE", FOOD, "GENERAL", -200, status="REPAIRED", repaired_on=days(-50)),
        penalty("杭市监罚〔旧〕8号", "ENTERPRISE", FOOD, "GENERAL", -400),  # past its year of publication
        penalty("杭市监罚〔旧〕9号", "ENTERPRISE", FOOD, "SERIOUS", -6 * 366),  # past the banks' 5 years
        licence("杭市监许〔1〕号", "PERSON", BORROWER, valid_to=None),
        licence("杭市监许〔2〕号", "PERSON", BORROWER, valid_to=days(-10)),
        licence("杭市监许〔3〕号", "ENTERPRISE", TEA, valid_to=days(3000)),
        licence("杭市监许〔4〕号", "ENTERPRISE", FOOD, valid_to=days(3000)),
        licence("杭市监许〔5〕号", "ENTERPRISE", FOOD, valid_to=days(-10)),  # expired: not in force
        consent(CONSENT_OK, "PERSON", BORROWER, BANK, ["LOAN_APPROVAL"], valid_until=stamp(365)),
        consent(CONSENT_REVOKED, "PERSON", BORROWER, BANK, ["LOAN_APPROVAL"], valid_until=stamp(365), revoked_at=stamp(-1)),
        consent(CONSENT_EXPIRED, "PERSON", BORROWER, BANK, ["LOAN_APPROVAL"], valid_until=stamp(-1)),
        consent(CONSENT_OTHER_BANK, "PERSON", BORROWER, OTHER_BANK, ["LOAN_APPROVAL"], valid_until=stamp(365)),
        consent(CONSENT_CARD_ONLY, "PERSON", BORROWER, BANK, ["CREDIT_CARD_APPROVAL"], valid_until=stamp(365)),
        consent(CONSENT_FOOD, "ENTERPRISE", FOOD, BANK, ["LOAN_APPROVAL"], valid_until=stamp(365)),
        consent(CONSENT_TEA, "ENTERPRISE", TEA, BANK, ["LOAN_APPROVAL"], valid_until=stamp(365)),
        {
            "kind": "credit_flag", "holder_kind": "ENTERPRISE", "holder_id": TEA, "flag": "TAX_A_GRADE",
            "source": "国家税务总局杭州市税务局", "since": days(-300), "until": None,
        },
        certificate("ID_CARD", "330106198503120028A", "PERSON", CITIZEN, POLICE),
        certificate("DRIVING_LICENCE", "330106198503120028D", "PERSON", CITIZEN, POLICE, status="SUSPENDED"),
        certificate("BUSINESS_LICENCE", "91330106MA2H100016B", "ENTERPRISE", TEA, MARKET_REGULATOR),
        certificate("ID_CARD", "330105199007080010A", "PERSON", BORROWER, POLICE, valid_until=days(-5)),
        certificate("BUSINESS_LICENCE", "91330104MA2H10002CB", "ENTERPRISE", FOOD, MARKET_REGULATOR),
    ]
    return r


def enterprise(code: str, name: str, rep: str) -> dict[str, Any]:
    return {
        "kind": "enterprise", "credit_code": code, "name": name, "legal_rep_id_number": rep,
        "type": "有限责任公司", "registered_capital": "1000000.00", "established_on": "2015-06-01",
        "registered_address": "杭州市", "status": "ACTIVE", "business_scope": "茶叶、食品销售",
    }


def penalty(number: str, kind: str, holder: str, severity: str, age_days: int, *, status: str = "ACTIVE",
            repaired_on: str | None = None) -> dict[str, Any]:
    return {
        "kind": "penalty", "decision_number": number, "holder_kind": kind, "holder_id": holder,
        "severity": severity, "category": "食品安全", "reason": "未按规定贮存食品", "basis": "《食品安全法》第一百三十二条",
        "amount": "5000.00", "authority_code": MARKET_REGULATOR, "decided_on": days(age_days), "status": status,
        "repaired_on": repaired_on,
    }


def licence(number: str, kind: str, holder: str, *, valid_to: str | None) -> dict[str, Any]:
    return {
        "kind": "licence", "decision_number": number, "holder_kind": kind, "holder_id": holder,
        "category": "普通", "title": "食品经营许可", "content": "预包装食品销售", "authority_code": MARKET_REGULATOR,
        "decided_on": days(-2000), "valid_from": days(-2000), "valid_to": valid_to, "status": "VALID",
    }


def consent(cid: str, kind: str, holder: str, grantee: str, purposes: list[str], *, valid_until: str | None,
            revoked_at: str | None = None) -> dict[str, Any]:
    return {
        "kind": "consent", "id": cid, "holder_kind": kind, "holder_id": holder, "grantee_code": grantee,
        "purposes": purposes, "granted_at": stamp(-30), "valid_until": valid_until, "revoked_at": revoked_at,
    }


def certificate(type_code: str, number: str, kind: str, holder: str, issuer: str, *, status: str = "VALID",
                valid_until: str | None = None) -> dict[str, Any]:
    return {
        "kind": "certificate", "type_code": type_code, "number": number, "holder_kind": kind, "holder_id": holder,
        "issuer_code": issuer, "issued_on": days(-1000), "valid_from": days(-1000),
        "valid_until": valid_until if valid_until is not None else days(3000), "status": status,
        "data": {"note": "test"},
    }


def write(path: Path) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records()), encoding="utf-8")
    return path
