"""Import lines (SPEC section 8) for the tests, with dates relative to the day they run."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app import clock

# The day as the service counts it (China Standard Time), not the machine's: they differ for
# eight hours a day.
TODAY = clock.today()

BANK = "91330100MA2H00001P"  # 惠民银行
MARKET_REGULATOR = "113301000024891238"  # 杭州市市场监督管理局
POLICE = "113301000024891313"  # 杭州市公安局
ALICE = "330106198503120028"  # 王芳, female, born 1985-03-12
BOB = "330105199007080010"  # 李明, male
NOBODY = "330104196902050037"  # a valid ID number that no line gives
FIRM = "91330106MA2H100016"


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


def authority(code: str, name: str, kind: str) -> dict[str, Any]:
    return {"kind": "authority", "code": code, "name": name, "authority_type": kind}


AUTHORITIES = [
    authority(BANK, "惠民银行", "BANK"),
    authority(MARKET_REGULATOR, "杭州市市场监督管理局", "ISSUER"),
    authority(POLICE, "杭州市公安局", "ISSUER"),
]


def person(id_number: str, name: str, **optional: Any) -> dict[str, Any]:
    return {"kind": "person", "id_number": id_number, "name": name, **optional}


def enterprise(code: str, rep: str, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "enterprise", "credit_code": code, "name": "西湖龙井茶业有限公司", "legal_rep_id_number": rep,
        "type": "有限责任公司", "registered_capital": "5000000.00", "established_on": "2012-04-18",
        "registered_address": "杭州市西湖区龙井路1号", "status": "ACTIVE", "business_scope": "茶叶销售", **changes,
    }  # fmt: skip


def licence(number: str, kind: str, holder: str, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "licence", "decision_number": number, "holder_kind": kind, "holder_id": holder,
        "category": "经营许可", "title": "食品经营许可", "content": "预包装食品销售",
        "authority_code": MARKET_REGULATOR, "decided_on": day(-400), "valid_from": day(-400), "valid_to": day(1000),
        "status": "VALID", **changes,
    }  # fmt: skip


def penalty(number: str, kind: str, holder: str, severity: str, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "penalty", "decision_number": number, "holder_kind": kind, "holder_id": holder, "severity": severity,
        "category": "食品安全", "reason": "生产经营超过保质期的食品", "basis": "《食品安全法》第一百二十四条",
        "amount": "50000.00", "authority_code": MARKET_REGULATOR, "decided_on": day(-10), "status": "ACTIVE", **changes,
    }  # fmt: skip


def certificate(type_code: str, number: str, kind: str, holder: str, issuer: str, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "certificate", "type_code": type_code, "number": number, "holder_kind": kind, "holder_id": holder,
        "issuer_code": issuer, "issued_on": day(-1000), "valid_from": day(-1000), "valid_until": day(3000),
        "status": "VALID", "data": {"note": "测试", "area_m2": 89.5}, **changes,
    }  # fmt: skip


def consent(cid: str, kind: str, holder: str, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "consent", "id": cid, "holder_kind": kind, "holder_id": holder, "grantee_code": BANK,
        "purposes": ["CREDIT_CARD_APPROVAL", "LOAN_APPROVAL"], "granted_at": f"{day(-30)}T09:00:00+08:00",
        "valid_until": day(365), **changes,
    }  # fmt: skip


def credit_flag(kind: str, holder: str, flag: str, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "credit_flag", "holder_kind": kind, "holder_id": holder, "flag": flag,
        "source": "国家税务总局杭州市税务局", "since": day(-100), "until": None, **changes,
    }  # fmt: skip
