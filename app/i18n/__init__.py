"""Words for people (SPEC section 5): the service's own text in Simplified Chinese, or in English.

Every text a caller reads that the service wrote (an error's `message`, a score factor's
`description`) has a key in one catalogue, `catalogue.toml` beside this file, with a template in
each language (str.format's named fields, the same in both). Code never holds the words: an
error carries a `Text`, a key and its parameters, and the words are chosen where the answer is
made, in the language of the request (`language_of`, from its Accept-Language). Codes never
change with the language. graphql-core's own parse and validation messages are not the
service's, and stay as graphql-core writes them.

`str()` of a Text is its English: what logs, the command line and operators read.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from typing import Any

log = logging.getLogger("xinzheng.i18n")


class Language(StrEnum):
    """The languages the service writes, by their language tags (RFC 5646)."""

    ZH = "zh-CN"  # the default: the city-service app's users and the counters read Chinese
    EN = "en"


DEFAULT = Language.ZH
# How a list of reasons is joined in each language (Chinese takes the full-width semicolon).
SEPARATOR = {Language.ZH: "；", Language.EN: "; "}


def _load() -> dict[str, dict[Language, str]]:
    """The catalogue, flattened to dotted keys: `[access] field_denied.zh = ...` is `access.field_denied`."""
    data = tomllib.loads(resources.files(__package__).joinpath("catalogue.toml").read_text(encoding="utf-8"))
    texts: dict[str, dict[Language, str]] = {}

    def walk(prefix: str, table: Mapping[str, Any]) -> None:
        if "zh" in table or "en" in table:
            if set(table) != {"zh", "en"} or not all(isinstance(v, str) for v in table.values()):
                raise ValueError(f"the catalogue's {prefix} needs a zh and an en text, and nothing else")
            texts[prefix] = {Language.ZH: table["zh"], Language.EN: table["en"]}
            return
        for name, value in table.items():
            if not isinstance(value, dict):
                raise ValueError(f"the catalogue's {prefix}.{name} is not a text")
            walk(f"{prefix}.{name}" if prefix else name, value)

    walk("", data)
    return texts


CATALOGUE = _load()


@dataclass(frozen=True, slots=True)
class Text:
    """A text of the catalogue, not yet in words: its key and its parameters. A parameter may be
    a Text itself, anything else with a `render(language)` (app/decisions.py's InApiWords), or a
    list of them (joined as SEPARATOR says): each in the same language."""

    key: str
    params: Mapping[str, object] = field(default_factory=dict)

    def render(self, language: Language) -> str:
        templates = CATALOGUE.get(self.key)
        if templates is None:  # a bug (tests/unit/test_i18n.py looks for it): say what was meant
            log.error("no text %r in the catalogue", self.key)
            return f"{self.key} {dict(self.params)}"
        values = {name: render(value, language) if _is_words(value) else value for name, value in self.params.items()}
        try:
            return templates[language].format_map(values)
        except (KeyError, IndexError, ValueError):  # a parameter missing, or of the wrong kind: a bug too
            log.exception("text %r cannot be made from %r", self.key, dict(self.params))
            return f"{self.key} {dict(self.params)}"

    def __str__(self) -> str:
        return self.render(Language.EN)


def render(value: object, language: Language) -> str:
    """A text, a list of texts, or anything else (as str()) in words of `language`."""
    if hasattr(value, "render"):
        words: str = value.render(language)
        return words
    if isinstance(value, (list, tuple)):
        return SEPARATOR[language].join(render(item, language) for item in value)
    return str(value)


def _is_words(value: object) -> bool:
    """Not a plain value (a number, a code): format specs such as {seconds:g} apply to those."""
    return hasattr(value, "render") or isinstance(value, (list, tuple))


class Localised(Exception):
    """An exception whose message is a Text: `str()` gives its English, `.text` its key and
    parameters for the answer to put in the request's language.

        raise Forbidden("access.citizen_own_data")
        raise BadUserInput("decision.not_on_file", decision_number=number)
    """

    def __init__(self, key: str | Text, /, **params: object) -> None:
        self.text = key if isinstance(key, Text) else Text(key, params)
        super().__init__(self.text.key)

    def __str__(self) -> str:
        return str(self.text)


def language_of(accept_language: str | None) -> Language:
    """The answer's language from an Accept-Language header (RFC 9110 section 12.5.4): English
    when a range `en` or `en-*` is preferred over every `zh` or `zh-*` one (a higher quality, or
    the same quality named first); otherwise, and for no header or one that does not parse,
    Simplified Chinese. A range with a quality that is not a number from 0 to 1 counts for nothing."""
    if not accept_language:
        return DEFAULT
    best = {Language.ZH: (0.0, 0), Language.EN: (0.0, 0)}  # per language: (quality, -position)
    for position, part in enumerate(accept_language.split(",")[:64]):
        tag, *params = (piece.strip() for piece in part.split(";"))
        language = _language(tag.lower())
        quality = _quality(params)
        if language is not None and quality is not None and quality > 0:
            best[language] = max(best[language], (quality, -position))
    return Language.EN if best[Language.EN] > best[Language.ZH] else DEFAULT


def _language(tag: str) -> Language | None:
    for language, primary in ((Language.EN, "en"), (Language.ZH, "zh")):
        if tag == primary or tag.startswith(primary + "-"):
            return language
    return None


def _quality(params: list[str]) -> float | None:
    """The range's q (1 when not given); None when it is not a number from 0 to 1."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return None
            return quality if 0 <= quality <= 1 else None
    return 1.0
