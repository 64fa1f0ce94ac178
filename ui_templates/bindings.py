"""Bindings: Jinja2 expressions in a sandbox where nothing is unbounded and nothing is mutable.

A binding is checked twice:

- when compiled, by walking Jinja2's syntax tree (:func:`refusal`): expressions only (no
  ``{% … %}`` statement tags), no names or attributes starting with ``_`` (nor ``self``,
  ``loop``…), no calls except ``range(…)``, only the filters and tests of bounded_ops.py, and a bounded
  length and nesting. What is refused names the binding's JSON path in the template;
- when evaluated, by :class:`BoundedEnvironment` (an ``ImmutableSandboxedEnvironment``) and the
  operations of bounded_ops.py: every arithmetic operator goes through ``call_binop``, which refuses integers over
  ``MAX_INT_BITS`` bits before computing them (``9 ** 3000000`` never starts), charges strings
  and lists built by ``*`` and ``+`` to the render's budget before building them, and refuses
  ``%`` on text (printf formatting); ``call`` refuses anything but the bounded ``range``;
  attribute and item access only read mapping keys and sequence items, so no method of the data
  (``offer.pop``, ``'x'.ljust``, ``'{}'.format``) is ever reached; the filters that build text
  charge what they build, and those that could build without bound (``format``, ``center``,
  ``indent``, ``wordwrap``, ``batch``, ``slice``…) are not offered.

Data is never changed by a binding: nothing a binding can reach modifies it, and what a binding
evaluated by Jinja2 gives is a plain copy (``bounded_ops.plain_value``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.environment import TemplateExpression
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.tests import TESTS
from jinja2.visitor import NodeTransformer

from .bounded_ops import FILTERS_OFFERED, TESTS_OFFERED, bounded_binop, bounded_range, concat, finalize

MAX_BINDING_LENGTH = 5000  # characters of one string holding bindings
MAX_EXPRESSION_NODES = 300  # syntax tree nodes of one such string
MAX_EXPRESSION_DEPTH = 32  # their nesting
_RESERVED_NAMES = frozenset({"self", "loop", "caller", "varargs", "kwargs", "super"})


class BindingRefused(Exception):
    """A binding uses something bounded templates do not offer (found when compiled)."""


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox bindings run in (see the module's docstring)."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, finalize=finalize)
        self.globals.clear()  # no lipsum, cycler, joiner, namespace, dict, unbounded range
        self.globals["range"] = bounded_range
        self.filters = {**FILTERS_OFFERED, "_concat": concat}
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
