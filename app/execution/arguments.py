"""A field's arguments, from graphql-core's coerced values to the resolver's Python values.

strawberry's `convert_arguments` works out on every call what each argument's type is and how
each input field is named in GraphQL; for the credit query's `person(idNumber, access)` that
was a tenth of the request (profiled). `plan_arguments` works it out once per field and
returns a function that only converts, for the types this service's arguments use: scalars,
enums, lists and optionals of them, and input types made of such fields. For anything else
(strawberry's Maybe, GlobalID, inputs with their own `from_input`, field extensions that
reshape arguments) it returns None, and the plan calls strawberry's `get_arguments` as it is.
tests/api/test_compiled_execution.py holds both paths to the same answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING
from typing import Any

from strawberry.extensions.field_extension import FieldExtension
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.schema.config import StrawberryConfig
from strawberry.types.base import StrawberryList, StrawberryMaybe, StrawberryOptional, has_object_definition
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.field import StrawberryField
from strawberry.types.lazy_type import LazyType
from strawberry.types.unset import UNSET

Convert = Callable[[Any], Any]
Arguments = Callable[[Any, Any, dict[str, Any]], tuple[list[Any], dict[str, Any]]]


class Unplanned(Exception):
    """A type this module does not convert: strawberry converts it."""


def plan_arguments(field: StrawberryField, config: StrawberryConfig, scalars: Any) -> Arguments | None:
    """(source, info, coerced values) -> the resolver's (args, kwargs), as strawberry's get_arguments."""
    if any(type(e).map_arguments is not FieldExtension.map_arguments for e in field.extensions):
        return None
    try:
        converters = [
            (config.name_converter.from_argument(a), a.python_name, _converter(a.type, config, scalars))
            for a in field.arguments
        ]
    except Unplanned:
        return None
    resolver = field.base_resolver
    pass_self = resolver is not None and resolver.self_parameter is not None
    given: list[tuple[str, bool]] = []  # (parameter, True: the source / False: info)
    if resolver is not None:
        for parameter, is_source in (
            (resolver.parent_parameter, True),
            (resolver.root_parameter, True),
            (resolver.info_parameter, False),
        ):
            if parameter is not None:
                given.append((parameter.name, is_source))

    def arguments(source: Any, info: Any, values: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        kwargs = {python: convert(values[name]) for name, python, convert in converters if name in values}
        for parameter, is_source in given:
            kwargs[parameter] = source if is_source else info
        return ([source] if pass_self else []), kwargs

    return arguments


def _identity(value: Any) -> Any:
    return value


def _converter(type_: Any, config: StrawberryConfig, scalars: Any) -> Convert:
    if isinstance(type_, StrawberryMaybe) or type_ is GlobalID:
        raise Unplanned(type_)
    if isinstance(type_, StrawberryOptional):
        return _converter(type_.of_type, config, scalars)  # None and UNSET pass through below
    if isinstance(type_, LazyType):
        return _converter(type_.resolve_type(), config, scalars)
    if isinstance(type_, StrawberryList):
        item = _converter(type_.of_type, config, scalars)

        def convert_list(value: Any) -> Any:
            if value is None or value is UNSET:
                return value
            # A copy even when the items need nothing: graphql-core gives every request the same default.
            return list(value) if item is _identity else [item(x) for x in value]

        return convert_list
    if is_scalar(type_, scalars) or isinstance(type_, StrawberryEnumDefinition) or has_enum_definition(type_):
        return _identity
    if has_object_definition(type_):
        definition = type_.__strawberry_definition__
        if not definition.is_input or definition.from_input is not None:
            raise Unplanned(type_)
        # As strawberry: a field with no default is None unless given (graphql-core checked the required ones).
        unset = [f.python_name for f in definition.fields if f.default_value is MISSING and f.default_factory is MISSING]
        fields = [
            (
                config.name_converter.from_field(f),
                f.python_name,
                _converter(f.resolve_type(type_definition=definition), config, scalars),
            )
            for f in definition.fields
        ]

        def convert_input(value: Any) -> Any:
            if value is None or value is UNSET:
                return value
            kwargs: dict[str, Any] = dict.fromkeys(unset)
            for name, python, convert in fields:
                if name in value:
                    kwargs[python] = convert(value[name])
            return type_(**kwargs)

        return convert_input
    raise Unplanned(type_)
