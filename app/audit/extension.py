"""Tells the request's audit record what operation it ran, once the document is parsed."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import get_operation_ast
from strawberry.extensions import SchemaExtension


class OperationFacts(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        record = getattr(context.context, "audit", None)
        if record is not None:
            try:
                operation_type = context.operation_type.value
            except RuntimeError:  # no operation of that name in the document: validation says so
                pass
            else:
                name = context.operation_name
                operation = get_operation_ast(context.graphql_document, name) if context.graphql_document else None
                declared = [v.variable.name.value for v in operation.variable_definitions or ()] if operation else []
                record.operation(operation_type, name, declared)
        yield
