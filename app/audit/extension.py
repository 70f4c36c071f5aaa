"""Tells the request's audit record what operation it ran, once the document is parsed."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension


class OperationFacts(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        record = getattr(self.execution_context.context, "audit", None)
        if record is not None:
            try:
                operation_type = self.execution_context.operation_type.value
            except RuntimeError:  # no operation of that name in the document: validation says so
                pass
            else:
                record.operation(operation_type, self.execution_context.operation_name)
        yield
