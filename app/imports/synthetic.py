"""A synthetic city of any size, for `seed --persons N` and the import benchmark.

Deterministic: the same N gives the same records, byte for byte, on any day (the dates are
fixed around ANCHOR, not today). Identifiers are valid (GB 11643, GB 32100), people live in
Hangzhou's districts (GB/T 2260 codes), and every record refers to the demo city's
organisations (seeds/demo.jsonl), which must be imported alongside.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from app.domain.rules import add_months
from app.identifiers import credit_code_with_check, id_number_with_check

ANCHOR = dt.date(2026, 10, 31)  # "now" for the synthetic city's history
# The persons of a city at most. Their ID numbers (ten districts, a birth day from 1950 to 2006,
# a sequence of 1,000) number about 204 million: `_City.person` draws until it finds a new one,
# which near that many would take ever longer, and past it for ever.
MAX_PERSONS = 50_000_000

# The demo city's organisations (seeds/demo.jsonl).
BANKS = ("91330100MA2H00001P", "91330100MA2H00002T")  # 惠民银行, 钱江银行
MARKET_REGULATOR = "113301000024891238"  # 杭州市市场监督管理局
POLICE = "113301000024891313"  # 杭州市公安局
CIVIL_AFFAIRS = "113301000024891401"  # 杭州市民政局
# Persons and enterprises of the demo city: never made again here.
DEMO_PERSONS = frozenset(
    {"330106198503120028", "330105199007080010", "330102197811200046", "330104196902050037", "11010519491231002X"}
)
DEMO_ENTERPRISES = frozenset({"91330106MA2H100016", "91330104MA2H10002C", "91330105MA2H10003X"})

DISTRICTS = {
    "330102": "上城区", "330105": "拱墅区", "330106": "西湖区", "330108": "滨江区", "330109": "萧山区",
    "330110": "余杭区", "330111": "富阳区", "330112": "临安区", "330113": "临平区", "330114": "钱塘区",
}  # fmt: skip
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任"
    "沈姚卢傅钟姜崔谭陆范汪金石廖贾夏韦方邹熊孟秦白江阎薛尹段雷黎史龙陶贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国红梅文斌辉鹏宇浩然晨曦欣怡子涵雨婷佳俊博思睿嘉琪"
STREETS = ("文三路", "文二路", "天目山路", "延安路", "解放路", "莫干山路", "湖墅南路", "江南大道", "滨盛路", "金城路")
TRADES = (
    ("茶业", "茶叶种植、加工、销售"), ("食品", "食品生产；食品销售"), ("建材", "建筑材料销售"),
    ("科技", "软件开发；信息技术咨询服务"), ("餐饮管理", "餐饮服务；食品经营"), ("贸易", "日用百货、五金交电销售"),
    ("物流", "道路货物运输；仓储服务"), ("服饰", "服装、鞋帽销售"),
)  # fmt: skip
WORDS = "西溪钱江之江龙井云栖梅家坞良渚湘湖富春天目运河武林翠苑"
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
LICENCES = (
    ("经营许可", "食品经营许可", "预包装食品销售"),
    ("生产许可", "食品生产许可", "茶叶及相关制品生产"),
    ("执业许可", "道路运输经营许可", "普通货运"),
    ("建设许可", "建筑工程施工许可", "住宅装修工程"),
)
PENALTIES = {
    "MINOR": ("市场监管", "未按规定公示营业执照", "《中华人民共和国市场主体登记管理条例》第四十八条", (0, 2000)),
    "GENERAL": ("食品安全", "未按规定进行进货查验记录", "《中华人民共和国食品安全法》第一百二十六条", (5000, 50000)),
    "SERIOUS": ("产品质量", "销售不合格产品", "《中华人民共和国产品质量法》第四十九条", (50000, 500000)),
}
SEVERITY_WEIGHTS = (("MINOR", 5), ("GENERAL", 4), ("SERIOUS", 2))


def expected_records(persons: int) -> int:
    """About how many records `records(persons)` gives: for progress only."""
    return round(persons * 4.07)


def records(persons: int) -> Iterator[dict[str, Any]]:
    """The synthetic city of `persons` people (at most MAX_PERSONS) and about persons/10 enterprises."""
    if not 0 <= persons <= MAX_PERSONS:
        raise ValueError(f"a synthetic city has 0 to {MAX_PERSONS} persons, not {persons}")
    city = _City(random.Random(f"xinzheng synthetic city {persons}"))
    for _ in range(persons):
        yield from city.person()
        if city.rng.random() < 0.1:
            yield from city.enterprise(city.last_person)


class _City:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.persons: set[str] = set(DEMO_PERSONS)
        self.enterprises: set[str] = set(DEMO_ENTERPRISES)
        self.serial = 100_000  # decision numbers and consent ids; the demo's are below it
        self.last_person = ""

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    def _day(self, start: dt.date, end: dt.date) -> dt.date:
        return start + dt.timedelta(days=self.rng.randrange((end - start).days + 1))

    def _years_back(self, low: float, high: float) -> dt.date:
        return ANCHOR - dt.timedelta(days=self.rng.randint(int(low * 365), int(high * 365)))

    def person(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        while True:
            district = rng.choice(list(DISTRICTS))
            born = self._day(dt.date(1950, 1, 1), dt.date(2006, 12, 31))
            id_number = id_number_with_check(f"{district}{born:%Y%m%d}{rng.randrange(1000):03d}")
            if id_number not in self.persons:
                break
        self.persons.add(id_number)
        self.last_person = id_number
        holder = {"holder_kind": "PERSON", "holder_id": id_number}
        line: dict[str, Any] = {
            "kind": "person",
            "id_number": id_number,
            "name": rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
        }
        if rng.random() < 0.8:
            line["phone"] = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
        if rng.random() < 0.7:
            line["address"] = f"杭州市{DISTRICTS[district]}{rng.choice(STREETS)}{rng.randint(1, 999)}号"
        yield line
        age = (ANCHOR - born).days // 365
        yield from self._person_certificates(holder, id_number, born, age)
        if rng.random() < 0.08:
            yield self._licence(holder)
        if rng.random() < 0.06:
            yield self._penalty(holder, authority=rng.choice((MARKET_REGULATOR, POLICE)))
        if rng.random() < 0.015:
            yield self._flag(holder, "DISHONEST_DEBTOR", "最高人民法院失信被执行人名单")
        elif rng.random() < 0.02:
            yield self._flag(holder, "HONOUR_LIST", "杭州市守信激励对象名单")
        if age >= 18 and rng.random() < 0.25:
            yield self._consent(holder)

    def _person_certificates(
        self, holder: dict[str, str], id_number: str, born: dt.date, age: int
    ) -> Iterator[dict[str, Any]]:
        rng = self.rng
        if age >= 16:
            issued = self._years_back(0, 20)
            # 居民身份证: 10 years under 26, 20 under 46, long-term after (GB/T 19488 practice)
            age_then = (issued - born).days // 365
            years = 10 if age_then < 26 else 20 if age_then < 46 else None
            until = add_months(issued, 12 * years) if years else None
            yield self._certificate("ID_CARD", id_number, holder, POLICE, issued, until, {"ethnicity": "汉"})
            if rng.random() < 0.35:
                issued = self._years_back(0, 6)
                until = add_months(issued, 12 * rng.choice((6, 10)))
                yield self._certificate("DRIVING_LICENCE", id_number, holder, POLICE, issued, until, {"class": "C1"})
        if rng.random() < 0.5:
            number = f"{id_number[:6]}{self._next():08d}"
            yield self._certificate("HOUSEHOLD_REGISTER", number, holder, POLICE, self._years_back(1, 30), None, {})
        if age >= 22 and rng.random() < 0.3:
            issued = self._years_back(0, max(1, age - 22))
            number = f"J{id_number[:6]}-{issued.year}-{self._next():07d}"
            yield self._certificate("MARRIAGE", number, holder, CIVIL_AFFAIRS, issued, None, {})

    def _certificate(
        self,
        type_code: str,
        number: str,
        holder: dict[str, str],
        issuer: str,
        issued: dt.date,
        until: dt.date | None,
        data: dict[str, Any],
    ) -> dict[str, Any]:
        roll = self.rng.random()
        status = "REVOKED" if roll < 0.01 else "SUSPENDED" if roll < 0.02 else "VALID"
        return {
            "kind": "certificate", "type_code": type_code, "number": number, **holder, "issuer_code": issuer,
            "issued_on": issued.isoformat(), "valid_from": issued.isoformat(),
            "valid_until": until.isoformat() if until else None, "status": status, "data": data,
        }  # fmt: skip

    def _licence(self, holder: dict[str, str]) -> dict[str, Any]:
        rng = self.rng
        category, title, content = rng.choice(LICENCES)
        decided = self._years_back(0, 8)
        valid_to = add_months(decided, 60) if rng.random() < 0.9 else None
        return {
            "kind": "licence", "decision_number": f"杭市监许〔{decided.year}〕{self._next()}号", **holder,
            "category": category, "title": title, "content": content, "authority_code": MARKET_REGULATOR,
            "decided_on": decided.isoformat(), "valid_from": decided.isoformat(),
            "valid_to": valid_to.isoformat() if valid_to else None,
            "status": "REVOKED" if rng.random() < 0.03 else "VALID",
        }  # fmt: skip

    def _penalty(self, holder: dict[str, str], *, authority: str) -> dict[str, Any]:
        rng = self.rng
        severity = rng.choices([s for s, _ in SEVERITY_WEIGHTS], [w for _, w in SEVERITY_WEIGHTS])[0]
        category, reason, basis, (low, high) = PENALTIES[severity]
        decided = self._years_back(0, 6)
        status, repaired = "ACTIVE", None
        if severity != "MINOR" and rng.random() < 0.3:
            repaired = decided + dt.timedelta(days=rng.randint(100 if severity == "GENERAL" else 370, 500))
            if repaired <= ANCHOR:
                status = "REPAIRED"
            else:
                repaired = None
        elif rng.random() < 0.02:
            status = "REVOKED"
        amount = rng.randint(low, high) // 100 * 100  # a MINOR one may be a warning (警告): no fine
        prefix = "杭市监罚" if authority == MARKET_REGULATOR else "杭公罚"
        return {
            "kind": "penalty", "decision_number": f"{prefix}〔{decided.year}〕{self._next()}号", **holder,
            "severity": severity, "category": category, "reason": reason, "basis": basis,
            "amount": f"{amount}.00" if amount else None, "authority_code": authority,
            "decided_on": decided.isoformat(), "status": status,
            "repaired_on": repaired.isoformat() if repaired else None,
        }  # fmt: skip

    def _flag(self, holder: dict[str, str], flag: str, source: str) -> dict[str, Any]:
        since = self._years_back(0, 3)
        until = add_months(since, 24) if flag != "DISHONEST_DEBTOR" else None
        return {
            "kind": "credit_flag", **holder, "flag": flag, "source": source,
            "since": since.isoformat(), "until": until.isoformat() if until else None,
        }  # fmt: skip

    def _consent(self, holder: dict[str, str]) -> dict[str, Any]:
        rng = self.rng
        bank = BANKS[0] if rng.random() < 0.8 else BANKS[1]
        purposes = ["LOAN_APPROVAL"] + (["CREDIT_CARD_APPROVAL"] if rng.random() < 0.4 else [])
        granted = self._years_back(0, 1.5)
        # Valid for years past ANCHOR, so a load test against a freshly seeded city finds them in force.
        until = add_months(granted, 12 * rng.choice((3, 4, 5)))
        revoked = granted + dt.timedelta(days=rng.randint(1, 90)) if rng.random() < 0.05 else None
        return {
            "kind": "consent", "id": f"SYN-{self._next()}", **holder, "grantee_code": bank, "purposes": purposes,
            "granted_at": f"{granted.isoformat()}T{rng.randint(8, 18):02d}:{rng.randrange(60):02d}:00+08:00",
            "valid_until": f"{until.isoformat()}T23:59:59+08:00",
            "revoked_at": f"{revoked.isoformat()}T12:00:00+08:00" if revoked else None,
        }  # fmt: skip

    def enterprise(self, rep: str) -> Iterator[dict[str, Any]]:
        rng = self.rng
        district = rng.choice(list(DISTRICTS))
        while True:
            body = f"91{district}MA2" + "".join(rng.choice(CREDIT_ALPHABET) for _ in range(6))
            code = credit_code_with_check(body)
            if code not in self.enterprises:
                break
        self.enterprises.add(code)
        trade, scope = rng.choice(TRADES)
        established = self._day(dt.date(1998, 1, 1), dt.date(2025, 12, 31))
        roll = rng.random()
        status = "REVOKED" if roll < 0.04 else "CANCELLED" if roll < 0.07 else "SUSPENDED" if roll < 0.1 else "ACTIVE"
        holder = {"holder_kind": "ENTERPRISE", "holder_id": code}
        name = f"杭州{rng.choice(WORDS)}{rng.choice(WORDS)}{trade}有限公司"
        yield {
            "kind": "enterprise", "credit_code": code, "name": name, "legal_rep_id_number": rep,
            "type": "有限责任公司(自然人投资或控股)", "registered_capital": f"{rng.randint(10, 5000) * 10000}.00",
            "established_on": established.isoformat(),
            "registered_address": f"杭州市{DISTRICTS[district]}{rng.choice(STREETS)}{rng.randint(1, 999)}号",
            "status": status, "business_scope": scope,
        }  # fmt: skip
        data = {"name": name, "legal_representative_id": rep}
        yield self._certificate("BUSINESS_LICENCE", code, holder, MARKET_REGULATOR, established, None, data)
        if trade in ("食品", "餐饮管理", "茶业"):
            issued = self._years_back(0, 5)
            number = f"JY1{district}{self._next():08d}"
            until = add_months(issued, 60)
            yield self._certificate("FOOD_BUSINESS_LICENCE", number, holder, MARKET_REGULATOR, issued, until, {})
        for _ in range(rng.randint(1, 3)):
            yield self._licence(holder)
        if rng.random() < 0.25:
            for _ in range(rng.randint(1, 3)):
                yield self._penalty(holder, authority=MARKET_REGULATOR)
        if rng.random() < 0.15:
            yield self._flag(holder, "TAX_A_GRADE", "国家税务总局杭州市税务局")
        if rng.random() < 0.02:
            yield self._flag(holder, "DISHONEST_DEBTOR", "最高人民法院失信被执行人名单")
        if rng.random() < 0.08:
            yield self._consent(holder)
