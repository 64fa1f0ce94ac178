"""The template engine: compile a template tree once, render it with data many times.

A template tree is a component tree (catalogue.py) where

- any string may hold bindings: ``"{{ offer.title }}"`` or ``"Ends {{ offer.expires_at | date }}"``.
  A string that is one binding keeps the value's type (a number stays a number, null stays null);
  bindings are Jinja2 expressions in a bounded sandbox (bindings.py): no statements, no calls,
  no methods, only the plain data handed in, every operation limited in size; a missing field
  is an error rather than an empty string;
- ``"if": "{{ offer.price }}"`` leaves the node out when the expression is false;
- ``"repeat": {"for": "offer", "in": "offers"}`` renders the node once per item, with the item
  bound to ``offer``;
- ``{"ref": "<template key>"}`` includes another template, ``{"slot": "offer.card"}`` the template
  that fills that slot for the product being rendered (or the built-in one); both may carry
  ``if`` and ``repeat``. Cycles are refused when a template is checked and stopped at render time.
- ``id`` may be given (bindings allowed; on an include it names the included root); otherwise each
  node's id is derived from its parent's id and its position (and the item's ``id`` inside a
  repeat), so ids are stable across renders.

Every render has a budget (budget.py): nodes visited, bytes produced, CPU time; over it the
render fails with :class:`RenderFailed` (``refused``), as a template failing for its data does.

Nothing here touches the database: templates come in through a :class:`TemplateSource`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from jinja2 import TemplateError

from .bindings import MAX_BINDING_LENGTH, BindingRefused, compile_expression, compile_text
from .bounded_ops import plain_value
from .budget import DEFAULT_LIMITS, Budget, Refused, RenderLimits, active_budget, enter_budget, leave_budget, size_of
from .schema import Issue

MAX_INCLUDE_DEPTH = 8
MAX_BINDING_TEXT = 20_000  # characters of all the strings holding bindings in one template
_SINGLE_BINDING = re.compile(r"^\{\{(?P<expr>(?:(?!\}\}).)*)\}\}$", re.DOTALL)


class TemplateInvalid(Exception):
    """A template tree cannot be compiled; ``issues`` name each problem's JSON path."""

    def __init__(self, issues: list[Issue]):
        super().__init__("; ".join(f"{i.path}: {i.message}" for i in issues))
        self.issues = issues


class RenderFailed(Exception):
    """Rendering failed for this data; ``path`` is where in the template. ``refused``: the render
    was stopped by its budget or a bounded operation, rather than failing on the data."""

    def __init__(self, path: str, message: str, *, refused: bool = False):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.refused = refused


# --- compiled form ------------------------------------------------------------------------------

Value = Callable[[Mapping[str, Any]], Any]


def _constant(value: Any) -> Value:
    return lambda context: value


@dataclass
class _Repeat:
    name: str
    items: Value


@dataclass
class _Node:
    include = False  # a class attribute, not a field: cheaper to test than isinstance
    path: str  # JSON path in the template, for errors
    condition: Value | None
    repeat: _Repeat | None


@dataclass
class _Component(_Node):
    type: str = ""
    id: Value | None = None
    props: dict[str, Value] = field(default_factory=dict)
    action: dict[str, Value] | None = None
    children: list[_Node] | None = None
    # for the budget: the bytes of its constant props and action, and which ones hold bindings
    static_size: int = 0
    dynamic_props: tuple[str, ...] = ()
    dynamic_action: tuple[str, ...] = ()


@dataclass
class _Include(_Node):
    include = True
    ref: str | None = None
    slot: str | None = None
    id: Value | None = None  # the included root's id, unless that template sets its own


@dataclass(frozen=True)
class CompiledTemplate:
    """A template compiled once (per version) and rendered many times."""

    key: str
    root: _Node
    refs: frozenset[str]  # template keys it includes
    slots: frozenset[str]  # slots it includes


class TemplateSource(Protocol):
    """Where included templates come from (the published set, or a draft being previewed)."""

    def by_key(self, key: str) -> CompiledTemplate | None: ...

    def for_slot(self, slot: str, product_slug: str) -> CompiledTemplate: ...


_RENDER_ERRORS = (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, AttributeError, Refused)


def _failure(path: str, exc: Exception) -> RenderFailed:
    return RenderFailed(path, getattr(exc, "message", None) or str(exc), refused=isinstance(exc, Refused))


def _guarded(value: Value, path: str) -> Value:
    """Evaluation errors of a binding name the binding's own path."""

    def run(context: Mapping[str, Any]) -> Any:
        try:
            return value(context)
        except _RENDER_ERRORS as exc:
            raise _failure(path, exc) from exc

    return run


# Bindings that only name a field (``offer.title``) are looked up directly in the plain data when
# every step is a key of a plain dict; anything else (a missing key, another type, a filter, an
# operator) is evaluated by Jinja2, so the result and the errors are Jinja2's (whose attribute
# access reads mapping keys only, as this does). Jinja2 sets up a context per evaluation, which
# cost most of a section's render.
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_JINJA_WORDS = frozenset(
    {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else", "loop"}
)
_BINDING = re.compile(r"\{\{(?P<expr>(?:(?!\}\}).)*)\}\}", re.DOTALL)
_MISSING = object()


def _simple_path(expression: str) -> tuple[str, ...] | None:
    """The steps of an expression that only names a field, else None."""
    if not _PATH.match(expression):
        return None
    parts = tuple(expression.split("."))
    if parts[0] in _JINJA_WORDS:
        return None
    return parts


def _looked_up(parts: tuple[str, ...], context: Mapping[str, Any]) -> Any:
    """The field ``parts`` names, or _MISSING when Jinja2 must decide."""
    value = context.get(parts[0], _MISSING)
    if value is _MISSING:
        return _MISSING  # a Jinja2 global, or an error Jinja2 reports
    for part in parts[1:]:
        if type(value) is not dict or part not in value:
            return _MISSING
        value = value[part]
    return value


def _interpolation(raw: str) -> list[str | tuple[str, ...]] | None:
    """A string of plain text and field bindings (``"{{ section_id }}-offers"``) as its pieces,
    else None (Jinja2 renders it). Text Jinja2 would treat specially is left to Jinja2: tags,
    comments, line endings it normalises, and the one trailing newline it drops."""
    pieces: list[str | tuple[str, ...]] = []
    end = 0
    for match in _BINDING.finditer(raw):
        parts = _simple_path(match.group("expr").strip())
        if parts is None:
            return None
        pieces.extend([raw[end : match.start()], parts])
        end = match.end()
    pieces.append(raw[end:])
    texts = [piece for piece in pieces if isinstance(piece, str)]
    if raw.endswith("\n") or any(mark in text for text in texts for mark in ("{{", "}}", "{%", "%}", "{#", "#}", "\r")):
        return None
    return [piece for piece in pieces if piece != ""]


def _compile_value(raw: Any, path: str, issues: list[Issue]) -> Value:
    if isinstance(raw, str) and "{{" in raw:
        try:
            if len(raw) > MAX_BINDING_LENGTH:
                raise BindingRefused(f"a string holding bindings has at most {MAX_BINDING_LENGTH} characters")
            single = _SINGLE_BINDING.match(raw.strip())
            if single:
                expression = compile_expression(single.group("expr").strip())

                def evaluate(context: Mapping[str, Any]) -> Any:
                    # a plain copy (a missing field is an error, not null; a generator becomes a list)
                    return plain_value(expression(context), active_budget())

                steps = _simple_path(single.group("expr").strip())
                guarded = _guarded(evaluate, path)
                if steps is None:
                    return guarded
                first, rest = steps[0], steps[1:]

                def look_up(context: Mapping[str, Any]) -> Any:  # _looked_up, inlined: the hottest call
                    value = context.get(first, _MISSING)
                    for part in rest:
                        if type(value) is not dict or part not in value:
                            return guarded(context)
                        value = value[part]
                    return guarded(context) if value is _MISSING else value

                return look_up
            text = compile_text(raw)
            pieces = _interpolation(raw)
            if pieces is None:
                return _guarded(text, path)

            def interpolate(context: Mapping[str, Any]) -> Any:
                out = []
                for piece in pieces:
                    if isinstance(piece, str):
                        out.append(piece)
                        continue
                    value = _looked_up(piece, context)
                    if value is _MISSING:
                        return text(context)
                    out.append(value if type(value) is str else str(value))  # as Jinja2 writes it
                return "".join(out)

            return _guarded(interpolate, path)
        except BindingRefused as exc:
            issues.append(Issue(path, f"binding refused: {exc}", refused=True))
            return _constant(None)
        except TemplateError as exc:
            issues.append(Issue(path, f"binding error: {exc.message or exc}"))
            return _constant(None)
    if isinstance(raw, dict):
        parts = {key: _compile_value(value, f"{path}.{key}", issues) for key, value in raw.items()}
        return lambda context: {key: value(context) for key, value in parts.items()}
    if isinstance(raw, list):
        items = [_compile_value(value, f"{path}[{index}]", issues) for index, value in enumerate(raw)]
        return lambda context: [item(context) for item in items]
    return _constant(raw)


def _compile_node(raw: Any, path: str, issues: list[Issue], refs: set[str], slots: set[str]) -> _Node | None:
    if not isinstance(raw, dict):
        issues.append(Issue(path, "a node must be an object"))
        return None
    condition = _compile_value(raw["if"], f"{path}.if", issues) if "if" in raw else None
    repeat = None
    if "repeat" in raw:
        spec = raw["repeat"]
        if not isinstance(spec, dict) or not isinstance(spec.get("for"), str) or not isinstance(spec.get("in"), str):
            issues.append(Issue(f"{path}.repeat", "repeat needs 'for' (a name) and 'in' (an expression)"))
        else:
            expression = spec["in"].strip()
            if expression.startswith("{{") and expression.endswith("}}"):
                expression = expression[2:-2]
            repeat = _Repeat(spec["for"], _compile_value("{{ " + expression + " }}", f"{path}.repeat.in", issues))
    if "ref" in raw or "slot" in raw:
        if "ref" in raw:
            refs.add(str(raw["ref"]))
        else:
            slots.add(str(raw["slot"]))
        include_id = _compile_value(raw["id"], f"{path}.id", issues) if "id" in raw else None
        return _Include(path, condition, repeat, ref=raw.get("ref"), slot=raw.get("slot"), id=include_id)
    children = None
    if isinstance(raw.get("children"), list):
        children = [
            node
            for index, child in enumerate(raw["children"])
            if (node := _compile_node(child, f"{path}.children[{index}]", issues, refs, slots)) is not None
        ]
    props: dict[str, Any] = raw["props"] if isinstance(raw.get("props"), dict) else {}
    action: dict[str, Any] | None = raw["action"] if isinstance(raw.get("action"), dict) else None
    static = {name: value for name, value in [*props.items(), *(action or {}).items()] if not _holds_binding(value)}
    return _Component(
        path,
        condition,
        repeat,
        static_size=32 + size_of(static, 1 << 30),
        dynamic_props=tuple(name for name, value in props.items() if _holds_binding(value)),
        dynamic_action=tuple(name for name, value in (action or {}).items() if _holds_binding(value)),
        type=str(raw.get("type", "")),
        id=_compile_value(raw["id"], f"{path}.id", issues) if "id" in raw else None,
        props={name: _compile_value(value, f"{path}.props.{name}", issues) for name, value in props.items()},
        action=(
            {name: _compile_value(value, f"{path}.action.{name}", issues) for name, value in action.items()}
            if action is not None
            else None
        ),
        children=children,
    )


def _binding_text(raw: Any) -> Iterator[int]:
    """The length of every string holding bindings in a raw tree."""
    pending = [raw]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "{{" in item:
                yield len(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _holds_binding(raw: Any) -> bool:
    return any(True for _ in _binding_text(raw))


def compile_template(key: str, tree: Any) -> CompiledTemplate:
    """Compile a (structurally valid) template tree; binding syntax errors raise TemplateInvalid."""
    total = sum(_binding_text(tree))
    if total > MAX_BINDING_TEXT:
        message = f"binding refused: the template's bindings hold {total} characters; at most {MAX_BINDING_TEXT}"
        raise TemplateInvalid([Issue("$", message, refused=True)])
    issues: list[Issue] = []
    refs: set[str] = set()
    slots: set[str] = set()
    root = _compile_node(tree, "$", issues, refs, slots)
    if issues or root is None:
        raise TemplateInvalid(issues or [Issue("$", "a template must be one node")])
    return CompiledTemplate(key=key, root=root, refs=frozenset(refs), slots=frozenset(slots))


# --- rendering ----------------------------------------------------------------------------------


class _Scope(NamedTuple):  # a tuple: one is made per include, and a frozen dataclass costs more
    source: TemplateSource
    product_slug: str
    template_key: str
    budget: Budget
    depth: int = 0


_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_.:-]")


def _safe_id(raw: Any) -> str:
    """Ids hold letters, digits and ``_.:-`` only (data may bring anything)."""
    return _UNSAFE_ID.sub("_", str(raw))[:200] or "_"


def _item_key(item: Any, index: int) -> str:
    if (type(item) is dict or isinstance(item, Mapping)) and isinstance(item.get("id"), str | int):
        return _safe_id(item["id"])
    return str(index)


def _expand_repeat(
    node: _Node, repeat: _Repeat, context: Mapping[str, Any], base_id: str, budget: Budget
) -> list[tuple[Mapping[str, Any], str]]:
    """The contexts (and default ids) of a repeated node's items; each counts as a node visited."""
    items = repeat.items(context)
    if items is None:
        return []
    if not isinstance(items, list | tuple):
        raise RenderFailed(f"{node.path}.repeat.in", f"expected a list, got {type(items).__name__}")
    expanded: list[tuple[Mapping[str, Any], str]] = []
    for index, item in enumerate(items):
        budget.countdown -= 1
        if budget.countdown <= 0:
            budget.check_nodes()
        item_context = {**context, repeat.name: item}
        if node.condition is None or node.condition(item_context):
            expanded.append((item_context, f"{base_id}-{_item_key(item, index)}"))
    return expanded


def _render_node(node: _Node, context: Mapping[str, Any], base_id: str, scope: _Scope) -> list[dict[str, Any]]:
    budget = scope.budget
    try:
        out: list[dict[str, Any]] = []
        # the contexts (and default ids) the node renders with: none, one, or one per item
        expanded: Sequence[tuple[Mapping[str, Any], str]]
        if node.repeat is None:
            budget.countdown -= 1  # a node visited, shown or not (inline: the hot path)
            if budget.countdown <= 0:
                budget.check_nodes()
            if node.condition is not None and not node.condition(context):
                return out
            expanded = ((context, base_id),)
        else:
            expanded = _expand_repeat(node, node.repeat, context, base_id, budget)
        for node_context, node_id in expanded:
            if node.include:
                include: _Include = node  # type: ignore[assignment]  # (no cast(): a call per node)
                include_id = _safe_id(include.id(node_context)) if include.id else node_id
                out.append(_render_include(include, node_context, include_id, scope))
                continue
            component: _Component = node  # type: ignore[assignment]
            component_id = _safe_id(component.id(node_context)) if component.id else node_id
            rendered: dict[str, Any] = {"type": component.type, "id": component_id}
            rendered["props"] = props = {name: value(node_context) for name, value in component.props.items()}
            # the bytes it produces, for the budget (inline: text, the usual value, costs a len())
            size = component.static_size + len(component_id)
            for name in component.dynamic_props:
                result = props[name]
                size += len(result) if type(result) is str else size_of(result, budget.room())
            if component.action is not None:
                rendered["action"] = action = {name: value(node_context) for name, value in component.action.items()}
                for name in component.dynamic_action:
                    result = action[name]
                    size += len(result) if type(result) is str else size_of(result, budget.room())
            budget.produced += size
            if budget.produced > budget.max_produced:
                budget.charge(0)  # raises OverBudget
            if component.children is not None:
                rendered["children"] = [
                    child_out
                    for index, child in enumerate(component.children)
                    for child_out in _render_node(child, node_context, f"{component_id}-{index}", scope)
                ]
            out.append(rendered)
        return out
    except RenderFailed as exc:
        if exc.path.startswith("$"):  # not yet attributed to a template: it happened in this one
            raise RenderFailed(f"{scope.template_key}:{exc.path}", exc.message, refused=exc.refused) from exc
        raise
    except _RENDER_ERRORS as exc:
        raise _failure(f"{scope.template_key}:{node.path}", exc) from exc


def _render_include(node: _Include, context: Mapping[str, Any], node_id: str, scope: _Scope) -> dict[str, Any]:
    if scope.depth >= MAX_INCLUDE_DEPTH:
        raise RenderFailed(node.path, f"templates nest more than {MAX_INCLUDE_DEPTH} deep (a cycle?)")
    if node.ref is not None:
        included = scope.source.by_key(node.ref)
        if included is None:
            raise RenderFailed(node.path, f"no published template {node.ref!r}")
    else:
        included = scope.source.for_slot(str(node.slot), scope.product_slug)
    inner = _Scope(scope.source, scope.product_slug, included.key, scope.budget, scope.depth + 1)
    rendered = _render_node(included.root, context, node_id, inner)
    if len(rendered) != 1:
        raise RenderFailed(node.path, f"template {included.key!r} rendered {len(rendered)} nodes instead of one")
    return rendered[0]


def render(
    template: CompiledTemplate,
    context: Mapping[str, Any],
    *,
    source: TemplateSource,
    product_slug: str = "",
    root_id: str = "root",
    limits: RenderLimits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """Render a compiled template to exactly one component, within the budget ``limits`` set."""
    budget = Budget(limits)
    token = enter_budget(budget)
    try:
        nodes = _render_node(template.root, context, root_id, _Scope(source, product_slug, template.key, budget))
    finally:
        leave_budget(token)
    if len(nodes) != 1:
        raise RenderFailed("$", f"a template must render to one component, not {len(nodes)}")
    return nodes[0]
