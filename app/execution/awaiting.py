"""No coroutine left unawaited when an executor cancels a field's task before it starts.

graphql-core's executor settles sibling fields with `gather_with_cancel`, a task each; when one
fails and nulls their parent, the others are cancelled, and one that had just made tasks for
its own fields has them cancelled before their first step. Cancelling throws into a coroutine
that never ran: it ends there, and drops unstarted whatever coroutine it was given to await (a
field's completion is given its resolver's, a guard the resolver's it shapes), which Python
then reports as "coroutine ... was never awaited". Plans settle fields the same way
(app/execution/run.py `_settle`), so both executors meet it; each is handled where it can be:

- Plans hand each field over as `Unstarted`: the cancellation ends the task's own wrapper, the
  field's coroutine is still whole, and `_settle` closes it with `discard`.
- graphql-core's executor is not ours. There, the policy middleware (app/auth/enforce.py)
  returns a `Deferred` for a resolver that is a coroutine function: its coroutine is made only
  when the field is awaited (calling it does nothing else), so a field cancelled before it
  starts has none to leave behind.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from inspect import CORO_CREATED, getcoroutinestate
from types import CoroutineType
from typing import Any


class Unstarted:
    """An awaitable of one coroutine (no extra turn of the event loop), so that a task made for
    it and cancelled before its first step ends this wrapper, not the coroutine."""

    __slots__ = ("coroutine",)

    def __init__(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        self.coroutine = coroutine

    def __await__(self) -> Generator[Any, None, Any]:
        return self.coroutine.__await__()


class Deferred:
    """A coroutine function's call, made when awaited (no extra turn of the event loop)."""

    __slots__ = ("args", "function", "kwargs")

    def __init__(self, function: Callable[..., Coroutine[Any, Any, Any]], *args: Any, **kwargs: Any) -> None:
        self.function = function
        self.args = args
        self.kwargs = kwargs

    def __await__(self) -> Generator[Any, None, Any]:
        return self.function(*self.args, **self.kwargs).__await__()


def is_unstarted(value: Any) -> bool:
    return type(value) is CoroutineType and getcoroutinestate(value) == CORO_CREATED


def discard(value: Any) -> None:
    """Close a coroutine that will never be awaited, with the coroutines it was given to await
    (as arguments, or in the dict or list of fields it settles): closing one that has not
    started leaves those unawaited."""
    if type(value) is not CoroutineType:
        return
    if is_unstarted(value) and value.cr_frame is not None:
        for argument in value.cr_frame.f_locals.values():
            if type(argument) is dict:
                argument = list(argument.values())
            if type(argument) is list:
                for item in argument:
                    discard(item)
            else:
                discard(argument)
    value.close()
