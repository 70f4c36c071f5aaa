"""What day it is, for the rules that depend on it: in the city's own time zone (UTC+8, no DST)."""

from __future__ import annotations

import datetime as dt

CHINA_STANDARD_TIME = dt.timezone(dt.timedelta(hours=8), "CST")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def today() -> dt.date:
    return dt.datetime.now(CHINA_STANDARD_TIME).date()
