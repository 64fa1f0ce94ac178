"""The bounded operations bindings evaluate with (bindings.py): every one either cannot grow
(a comparison, ``upper``) or is charged to the render's budget (budget.py) before it builds what
it builds, and integers stay under ``MAX_INT_BITS``.

- ``plain_value``: what a binding gives, as a plain JSON copy;
- ``bounded_binop``: the arithmetic operators (the sandbox's ``call_binop``);
- ``bounded_range``: ``range(…)`` of at most ``MAX_RANGE`` numbers;
- ``FILTERS_OFFERED`` and ``TESTS_OFFERED``: the filters and tests bindings may use;
- ``concat`` (``~``) and ``finalize`` (``{{ … }}`` inside text).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from jinja2 import Environment, Undefined, pass_environment
from jinja2.filters import FILTERS, make_attrgetter
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .budget import Budget, OverBudget, Refused, active_budget, size_of

MAX_INT_BITS = 256  # integers an operator may produce (a 77-digit number)
MAX_RANGE = 1000  # numbers range() may give
MAX_VALUE_DEPTH = 32  # nesting of a value a binding gives
_CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}
_TEXT_GROWTH = 6  # str() of a container: each byte may become an escape of up to six


# --- values ------------------------------------------------------------------------------------


def _text(value: Any, budget: Budget) -> str:
    """``str(value)``, refused first when it could be larger than the budget's room."""
    if type(value) is str:
        return value
    if type(value) in (int, float, bool) or value is None:
        return str(value)
    if _TEXT_GROWTH * size_of(value, budget.room()) > budget.room():
        raise OverBudget(f"over the render budget: {type(value).__name__} too large to turn into text")
    return str(value)


def plain_value(value: Any, budget: Budget, depth: int = 0) -> Any:
    """``value`` as plain JSON data (a copy of any container; iterables become lists), counted
    against the budget's room; types JSON cannot hold (a complex number, a function) are errors."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if depth >= MAX_VALUE_DEPTH:
        raise Refused(f"the value is nested more than {MAX_VALUE_DEPTH} levels deep")
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"object keys must be text, not {type(key).__name__}")
            budget.charge(len(key) + 1)
            out[key] = plain_value(item, budget, depth + 1)
        return out
    if isinstance(value, Iterable) and not isinstance(value, bytes | bytearray):
        items = []
        for item in value:
            budget.charge(1)
            items.append(plain_value(item, budget, depth + 1))
        return items
    raise TypeError(f"a binding cannot give a {type(value).__name__} value")


# --- operators and calls -----------------------------------------------------------------------


def _check_int(result: Any) -> Any:
    if type(result) is int and result.bit_length() > MAX_INT_BITS:
        raise Refused(f"the number is larger than {MAX_INT_BITS} bits")
    return result


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def _sequence(value: Any) -> bool:
    return isinstance(value, str | list | tuple)


def bounded_binop(operator: str, left: Any, right: Any) -> Any:
    """``left <operator> right``, refused (before computing it) when the result would be too large."""
    budget = active_budget()
    if operator == "%" and isinstance(left, str):
        raise Refused("'%' formatting of text is not allowed; join text with '~'")
    if operator == "**" and _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
        # the result has at least (bits of left - 1) * right bits: refused before it is computed
        if (abs(left).bit_length() - 1) * right > MAX_INT_BITS:
            raise Refused(f"the number would be larger than {MAX_INT_BITS} bits")
    elif operator == "*":
        if _is_int(left) and _is_int(right):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
                raise Refused(f"the number would be larger than {MAX_INT_BITS} bits")
        elif (_sequence(left) and _is_int(right)) or (_sequence(right) and _is_int(left)):
            sequence, times = (left, right) if _sequence(left) else (right, left)
            if times > 0:
                room = budget.room()
                budget.charge(size_of(sequence, room) * min(times, room + 1))
    elif operator == "+" and _sequence(left) and _sequence(right):
        room = budget.room()
        budget.charge(size_of(left, room) + size_of(right, room))
    return _check_int(ImmutableSandboxedEnvironment.default_binop_table[operator](left, right))


def bounded_range(*args: Any) -> range:
    """``range(…)`` of at most ``MAX_RANGE`` numbers."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise Refused(f"range() may give at most {MAX_RANGE} numbers")
    return numbers


# --- filters -----------------------------------------------------------------------------------


def _charged(fn: Callable[..., Any], *, growth: int = 0) -> Callable[..., Any]:
    """A filter that charges what it builds (and, with ``growth``, first refuses input that could
    grow past the budget's room: ``growth`` times its size)."""

    @functools.wraps(fn)  # keeps Jinja2's pass_context/pass_environment marks
    def run(*args: Any, **kwargs: Any) -> Any:
        budget = active_budget()
        if growth and args and growth * size_of(args[0], budget.room()) > budget.room():
            raise OverBudget(f"over the render budget: the input of {fn.__name__} is too large")
        result = fn(*args, **kwargs)
        if isinstance(result, str | list | tuple | dict):
            budget.charge(size_of(result, budget.room()))
        return result

    return run


@pass_environment
def _join(environment: Environment, value: Iterable[Any], d: Any = "", attribute: str | int | None = None) -> str:
    """Jinja2's ``join``, built only when it fits the budget."""
    budget = active_budget()
    if attribute is not None:
        value = map(make_attrgetter(environment, attribute), value)
    separator = _text(d, budget)
    parts = []
    for item in value:
        part = _text(item, budget)
        budget.charge(len(part) + len(separator))
        parts.append(part)
    return separator.join(parts)


def _replace(s: Any, old: Any, new: Any, count: int | None = None) -> str:
    """Jinja2's ``replace``, built only when the result fits the budget."""
    budget = active_budget()
    s, old, new = _text(s, budget), _text(old, budget), _text(new, budget)
    found = len(s) + 1 if old == "" else s.count(old)
    if count is not None:
        found = min(found, max(int(count), 0))
    budget.charge(max(len(s) + found * (len(new) - len(old)), 0))
    return s.replace(old, new, -1 if count is None else max(int(count), 0))


def concat(parts: list[Any]) -> str:
    """The ``~`` operator (rewritten to this filter when compiled), built only when it fits."""
    budget = active_budget()
    texts = [_text(part, budget) for part in parts]
    budget.charge(sum(len(text) for text in texts))
    return "".join(texts)


def _currency(amount: Any, currency: str = "EUR") -> str:
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return str(amount)
    if not value.is_finite() or value.adjusted() > 30:  # '1e999999999' would print a billion digits
        return str(amount)
    symbol = _CURRENCY_SYMBOLS.get(str(currency), f"{currency} ")
    return f"{symbol}{value:,.2f}"


def _date(value: Any, length: int = 10) -> str:
    """ISO date-times shortened to the date (or the first ``length`` characters)."""
    return _text(value or "", active_budget())[:length]


def _tojson(value: Any) -> str:
    """The value as JSON text (keys sorted)."""
    budget = active_budget()
    if _TEXT_GROWTH * size_of(value, budget.room()) > budget.room():
        raise OverBudget("over the render budget: the input of tojson is too large")
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    budget.charge(len(text))
    return text


# Jinja2's own filters that are offered, each charging what it builds; the others are refused.
_JINJA_FILTERS = (
    "abs", "capitalize", "count", "d", "default", "dictsort", "first", "float", "int", "items",
    "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "reverse",
    "round", "select", "selectattr", "sort", "title", "trim", "truncate", "unique", "upper",
    "wordcount",
)  # fmt: skip
_GROWING_FILTERS = {"string": _TEXT_GROWTH, "urlencode": 9}
FILTERS_OFFERED: dict[str, Callable[..., Any]] = {
    **{name: _charged(FILTERS[name]) for name in _JINJA_FILTERS},
    **{name: _charged(FILTERS[name], growth=growth) for name, growth in _GROWING_FILTERS.items()},
    "join": _join,
    "replace": _replace,
    "tojson": _tojson,
    "currency": _currency,
    "date": _date,
}
TESTS_OFFERED = (
    "defined", "undefined", "none", "boolean", "false", "true", "integer", "float", "number",
    "string", "mapping", "sequence", "iterable", "odd", "even", "divisibleby", "eq", "equalto",
    "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=", "in",
    "lower", "upper", "sameas",
)  # fmt: skip


def finalize(value: Any) -> Any:
    """What ``{{ … }}`` inside text writes: refused when its text would not fit the budget."""
    if type(value) is not str and not isinstance(value, Undefined):
        _text(value, active_budget())
    return value
