"""Bindings: Jinja2 expressions in a sandbox where nothing is unbounded and nothing is mutable.

A binding is checked twice:

- when compiled, by walking Jinja2's syntax tree (:func:`refusal`): expressions only (no
  ``{% … %}`` statement tags), no names or attributes starting with ``_`` (nor ``self``,
  ``loop``…), no calls except ``range(…)``, only the filters and tests listed below, and a bounded
  length and nesting. What is refused names the binding's JSON path in the template;
- when evaluated, by :class:`BoundedEnvironment` (an ``ImmutableSandboxedEnvironment``): every
  arithmetic operator goes through ``call_binop``, which refuses integers over
  ``MAX_INT_BITS`` bits before computing them (``9 ** 3000000`` never starts), charges strings
  and lists built by ``*`` and ``+`` to the render's budget before building them, and refuses
  ``%`` on text (printf formatting); ``call`` refuses anything but the bounded ``range``;
  attribute and item access only read mapping keys and sequence items, so no method of the data
  (``offer.pop``, ``'x'.ljust``, ``'{}'.format``) is ever reached; the filters that build text
  charge what they build, and those that could build without bound (``format``, ``center``,
  ``indent``, ``wordwrap``, ``batch``, ``slice``…) are not offered.

Data is never changed by a binding: nothing a binding can reach modifies it, and what a binding
evaluated by Jinja2 gives is a plain copy (:func:`plain_value`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.environment import TemplateExpression
from jinja2.filters import FILTERS, make_attrgetter
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.tests import TESTS
from jinja2.visitor import NodeTransformer

from .budget import Budget, OverBudget, Refused, active_budget, size_of

MAX_BINDING_LENGTH = 5000  # characters of one string holding bindings
MAX_EXPRESSION_NODES = 300  # syntax tree nodes of one such string
MAX_EXPRESSION_DEPTH = 32  # their nesting
MAX_INT_BITS = 256  # integers an operator may produce (a 77-digit number)
MAX_RANGE = 1000  # numbers range() may give
MAX_VALUE_DEPTH = 32  # nesting of a value a binding gives
_RESERVED_NAMES = frozenset({"self", "loop", "caller", "varargs", "kwargs", "super"})
_CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}
_TEXT_GROWTH = 6  # str() of a container: each byte may become an escape of up to six


class BindingRefused(Exception):
    """A binding uses something bounded templates do not offer (found when compiled)."""


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


def _join(value: Iterable[Any], d: Any = "", attribute: str | int | None = None) -> str:
    """Jinja2's ``join``, built only when it fits the budget."""
    budget = active_budget()
    if attribute is not None:
        value = map(make_attrgetter(ENV, attribute), value)
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


def _concat(parts: list[Any]) -> str:
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


def _finalize(value: Any) -> Any:
    """What ``{{ … }}`` inside text writes: refused when its text would not fit the budget."""
    if type(value) is not str and not isinstance(value, Undefined):
        _text(value, active_budget())
    return value


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox bindings run in (see the module's docstring)."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, finalize=_finalize)
        self.globals.clear()  # no lipsum, cycler, joiner, namespace, dict, unbounded range
        self.globals["range"] = bounded_range
        self.filters = {**FILTERS_OFFERED, "_concat": _concat}
        self.tests = {name: TESTS[name] for name in TESTS_OFFERED}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        return bounded_binop(operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if __obj is bounded_range and not kwargs:
            return bounded_range(*args)
        raise SecurityError("calls are not allowed (only range(…))")

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``a.b`` reads the key ``b`` of a mapping, and nothing else (no methods, no attributes)."""
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return self.undefined(obj=obj, name=attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """``a[k]`` reads a mapping's key or a sequence's item or slice, and nothing else."""
        if isinstance(obj, Mapping):
            try:
                return obj[argument]
            except (KeyError, TypeError):
                pass
        elif isinstance(obj, list | tuple | str | range) and isinstance(argument, int | slice):
            try:
                return obj[argument]
            except (IndexError, TypeError, ValueError):
                pass
        return self.undefined(obj=obj, name=argument)


ENV = BoundedEnvironment()


# --- the compile-time check --------------------------------------------------------------------

_ALLOWED_NODES = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Const, nodes.Name, nodes.Tuple, nodes.List,
    nodes.Dict, nodes.Pair, nodes.Keyword, nodes.CondExpr, nodes.Add, nodes.Sub, nodes.Mul, nodes.Div,
    nodes.FloorDiv, nodes.Mod, nodes.Pow, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos,
    nodes.Compare, nodes.Operand, nodes.Concat, nodes.Getattr, nodes.Getitem, nodes.Slice, nodes.Filter,
    nodes.Test, nodes.Call,
)  # fmt: skip


def _private(name: Any) -> bool:
    return isinstance(name, str) and name.startswith("_")


def _node_refusal(node: nodes.Node, parent: nodes.Node | None) -> str | None:
    if isinstance(node, nodes.Stmt) and not isinstance(node, nodes.Output):
        return "statement tags ({% … %}) are not allowed in bindings; use the 'if' and 'repeat' directives"
    if not isinstance(node, _ALLOWED_NODES):
        return f"{type(node).__name__} is not allowed in bindings"
    if isinstance(node, nodes.Name):
        if _private(node.name) or node.name in _RESERVED_NAMES:
            return f"the name {node.name!r} is not available in bindings"
        if node.name == "range" and not (isinstance(parent, nodes.Call) and parent.node is node):
            return "range can only be called: range(…)"
    if isinstance(node, nodes.Getattr) and _private(node.attr):
        return f"names starting with '_' are not allowed ({node.attr!r})"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and _private(node.arg.value):
        return f"names starting with '_' are not allowed ({node.arg.value!r})"
    if isinstance(node, nodes.Filter | nodes.Test) and (node.dyn_args or node.dyn_kwargs):
        return "*args and **kwargs are not allowed in bindings"
    if isinstance(node, nodes.Filter) and node.name not in FILTERS_OFFERED:
        return f"the filter {node.name!r} is not available (available: {', '.join(sorted(FILTERS_OFFERED))})"
    if isinstance(node, nodes.Test) and node.name not in TESTS_OFFERED:
        return f"the test {node.name!r} is not available"
    if isinstance(node, nodes.Call):
        callee = node.node
        if not (isinstance(callee, nodes.Name) and callee.name == "range") or node.kwargs or node.dyn_args:
            return "calls are not allowed in bindings (only range(…)); methods of the data cannot be called"
    return None


def refusal(tree: nodes.Node) -> str | None:
    """Why the parsed binding ``tree`` is refused, or None (iterative: nesting is no risk)."""
    pending: list[tuple[nodes.Node, nodes.Node | None, int]] = [(tree, None, 0)]
    seen = 0
    while pending:
        node, parent, depth = pending.pop()
        seen += 1
        if seen > MAX_EXPRESSION_NODES:
            return f"the binding is too complex (more than {MAX_EXPRESSION_NODES} parts)"
        if depth > MAX_EXPRESSION_DEPTH:
            return f"the binding nests more than {MAX_EXPRESSION_DEPTH} levels deep"
        message = _node_refusal(node, parent)
        if message:
            return message
        # in document order, so that the first construct refused is the one named
        pending.extend(reversed([(child, node, depth + 1) for child in node.iter_child_nodes()]))
    return None


class _BoundedConcat(NodeTransformer):
    """``a ~ b`` becomes the ``_concat`` filter, which charges the text it builds."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(items, "_concat", [], [], None, None, lineno=node.lineno)


# Compiling can fail in Python itself on a pathological expression (recursion, nesting limits).
_COMPILE_ERRORS = (RecursionError, MemoryError, SyntaxError, ValueError, OverflowError)


def _compiled(source: str, parse: Callable[[], nodes.Node], wrap: Callable[[Any], nodes.Template]) -> Any:
    """Parse, check, bound and compile ``source`` (``wrap`` makes the parsed tree a template)."""
    if len(source) > MAX_BINDING_LENGTH:
        raise BindingRefused(f"a string holding bindings has at most {MAX_BINDING_LENGTH} characters")
    try:
        tree = parse()
        message = refusal(tree)
        if message:
            raise BindingRefused(message)
        template = wrap(_BoundedConcat().visit(tree))
        template.set_environment(ENV)
        return ENV.from_string(template)
    except _COMPILE_ERRORS as exc:
        raise BindingRefused(f"the binding cannot be compiled ({type(exc).__name__})") from exc


def compile_expression(source: str) -> Callable[[Mapping[str, Any]], Any]:
    """One expression (``offer.title | upper``) as a function of the context giving its value."""

    def parse() -> nodes.Node:
        parser = Parser(ENV, source, state="variable")
        expression = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("chunk after expression", parser.stream.current.lineno, None, None)
        return expression

    def wrap(expression: nodes.Expr) -> nodes.Template:
        return nodes.Template([nodes.Assign(nodes.Name("result", "store"), expression, lineno=1)], lineno=1)

    expression = TemplateExpression(_compiled(source, parse, wrap), undefined_to_none=False)
    return lambda context: expression(context)


def compile_text(source: str) -> Callable[[Mapping[str, Any]], str]:
    """Text with bindings (``"Ends {{ offer.expires_at | date }}"``) as a function of the context."""
    template = _compiled(source, lambda: ENV.parse(source), lambda tree: tree)
    return lambda context: template.render(context)
