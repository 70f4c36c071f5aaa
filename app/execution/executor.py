"""The executor strawberry runs every operation with (`Schema(execution_context_class=...)`).

Strawberry's pipeline does everything up to here, for every request: parsing, validation with
every rule and limiter the schema declares, the operation's type checked against what the
request may run, variable coercion, extensions. What reaches `execute_operation` is a valid
operation with coerced variables. A query that app/execution/plan.py can plan runs from its
plan, kept per parsed operation (strawberry's ParserCache gives the same document object for
the same text); anything else runs through graphql-core's own executor. Either way the schema's
field guards (app/auth/enforce.py) apply: planned fields carry theirs, and graphql-core's
executor gets them as a middleware.

Each schema gets its own executor class (`executor_class`), which holds that schema's guards
and plans; nothing is shared between two schemas in one process.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

import strawberry
from graphql import Executor, ExecutionResult, GraphQLError, MiddlewareManager, OperationDefinitionNode
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.auth.enforce import PolicyGuard, PolicyMiddleware
from app.execution.plan import FieldPlan, NotCompilable, plan_operation
from app.execution.run import Run, execute_fields

class Plans:
    """Plans by parsed operation: kept as long as the operation is (strawberry parses a text
    once, and app/execution/documents.py keeps the document, within its bounds), dropped with it."""

    def __init__(self, strawberry_schema: strawberry.Schema, guards: Mapping[str, PolicyGuard]) -> None:
        self.strawberry_schema = strawberry_schema
        self.guards = guards
        # id(operation) -> (a weak reference to the operation, its root plans or None: not planned)
        self._plans: dict[int, tuple[weakref.ref[OperationDefinitionNode], list[FieldPlan] | None]] = {}

    def get(self, executor: Executor) -> list[FieldPlan] | None:
        operation = executor.operation
        key = id(operation)
        entry = self._plans.get(key)
        if entry is not None and entry[0]() is operation:
            return entry[1]
        try:
            plans: list[FieldPlan] | None = plan_operation(
                executor.schema, self.strawberry_schema, self.guards, operation, executor.fragment_definitions
            )
        except NotCompilable:
            plans = None
        self._plans[key] = (weakref.ref(operation, partial(self._forget, key)), plans)
        return plans

    def _forget(self, key: int, gone: weakref.ref[OperationDefinitionNode]) -> None:
        entry = self._plans.get(key)
        if entry is not None and entry[0] is gone:
            del self._plans[key]

    def __len__(self) -> int:
        return len(self._plans)


class PlannedExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor (graphql-core's, with strawberry's resolve info), running planned
    queries from their plans. Subclassed per schema."""

    guards: ClassVar[Mapping[str, PolicyGuard]]
    plans: ClassVar[Plans | None]
    policy_middleware: ClassVar[PolicyMiddleware]
    quiet: ClassVar[bool] = False  # no "did you mean" in variable errors (prod)

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        """graphql-core's, hiding suggestions in variable coercion errors where the schema says so."""
        if cls.quiet:
            kwargs["hide_suggestions"] = True
        return super().build(*args, **kwargs)

    @classmethod
    def install(
        cls,
        strawberry_schema: strawberry.Schema,
        guards: Mapping[str, PolicyGuard],
        *,
        planned: bool,
        hide_suggestions: bool = False,
    ) -> None:
        """Bind this class to its schema: done once, when the schema is built (app/schema)."""
        if cls is PlannedExecutor or "guards" in cls.__dict__:
            raise RuntimeError("an executor class serves one schema, installed once (executor_class())")
        cls.guards = guards
        cls.quiet = hide_suggestions
        cls.plans = Plans(strawberry_schema, guards) if planned else None
        cls.policy_middleware = PolicyMiddleware(guards)

    def execute_operation(self, serially: bool | None = None) -> Any:
        plans = self.plans.get(self) if self.plans is not None and not self._has_middleware() else None
        if plans is None:
            self._add_policy_middleware()
            return super().execute_operation(serially)
        run = Run(self)
        try:
            data = execute_fields(run, plans, self.root_value, None)
        except GraphQLError as error:  # a non-null root field was null
            return ExecutionResult(data=None, errors=[*run.errors, error])
        if isinstance(data, dict):
            return ExecutionResult(data=data, errors=run.errors or None)
        return self._finish_planned(run, data)

    @staticmethod
    async def _finish_planned(run: Run, pending: Any) -> ExecutionResult:
        try:
            data = await pending
        except GraphQLError as error:
            run.errors.append(error)
            data = None
        return ExecutionResult(data=data, errors=run.errors or None)

    def _has_middleware(self) -> bool:
        """Middleware from strawberry's extensions wraps every resolver: plans do not skip it."""
        return bool(self.middleware_manager and self.middleware_manager.middlewares)

    def _add_policy_middleware(self) -> None:
        if not self.guards:
            return
        others = self.middleware_manager.middlewares if self.middleware_manager else ()
        self.middleware_manager = MiddlewareManager(*others, self.policy_middleware)


def executor_class() -> type[PlannedExecutor]:
    """A class of its own for one schema: `install` gives it that schema's guards and plans, once."""
    return type("PlannedExecutor", (PlannedExecutor,), {})
