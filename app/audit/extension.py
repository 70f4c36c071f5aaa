"""Tells the request's audit record what operation it ran, once the document is parsed."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from app.audit.record import MAX_NAME


class OperationFacts(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        record = getattr(self.execution_context.context, "audit", None)
        if record is not None:
            try:
                record.operation_type = self.execution_context.operation_type.value.upper()
            except RuntimeError:  # no operation of that name in the document: validation says so
                pass
            # The body's operationName, or else the document's one named operation.
            if record.operation_name is None:
                name = self.execution_context.operation_name
                record.operation_name = name[:MAX_NAME] if name else None
        yield
