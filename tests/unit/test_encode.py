"""The answer's bytes (app/view.py encode) are what the json module would write."""

from __future__ import annotations

import json

from app.view import encode


def _json(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def test_answers_are_written_as_the_json_module_writes_them() -> None:
    body = {
        "data": {"person": {"name": "李明", "idNumber": "330105********0010", "score": 612, "ratio": 0.25,
                            "flags": [True, False, None], "quote": 'a "b" \\ c\n\u2028', "emoji": "🙂"}},
        "errors": [{"message": "x", "locations": [{"line": 1, "column": 3}], "path": ["person", 0]}],
        "extensions": {"requestId": "abc", "auditSeq": 2**62},
    }  # fmt: skip
    assert encode(body) == _json(body)


def test_what_orjson_does_not_take_is_written_by_the_json_module() -> None:
    body = {"data": {"big": 2**70}, "extensions": {1: "not a string key"}}
    assert encode(body) == _json(body)
