"""Render budgets: how much one render of a template may do before it is stopped.

A render (one section, its includes included) may visit so many nodes (each node and each
repeated item, shown or skipped by ``if``), produce so many bytes (the output, and every string,
list or number the bindings build on the way) and use so much CPU time of its thread (the
backstop: checked every few nodes and operations, so it also holds under load, where wall time
would count the waits for other threads). Over any of them the render raises :class:`OverBudget`
and the caller falls back (ui_templates/rendering.py) or refuses the template (services.py).

The budget of the render in progress is a context variable, so that the sandbox's operators and
filters (bindings.py) charge the same budget as the tree walker (engine.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


@dataclass(frozen=True)
class RenderLimits:
    """The budget of one render (settings ``TEMPLATE_RENDER_*``; see ``render_limits``)."""

    max_nodes: int = 2000
    max_output_bytes: int = 256 * 1024
    max_cpu_seconds: float = 0.02


DEFAULT_LIMITS = RenderLimits()


_configured: list[RenderLimits] = []  # the settings' limits, read once (again when a setting changes)


def render_limits() -> RenderLimits:
    """The configured limits (the defaults when Django's settings are not configured)."""
    if _configured:
        return _configured[0]
    if not settings.configured:  # (a benchmark, no Django)
        _configured[:] = [DEFAULT_LIMITS]
        return DEFAULT_LIMITS
    limits = RenderLimits(
        max_nodes=getattr(settings, "TEMPLATE_RENDER_MAX_NODES", DEFAULT_LIMITS.max_nodes),
        max_output_bytes=getattr(settings, "TEMPLATE_RENDER_MAX_OUTPUT_BYTES", DEFAULT_LIMITS.max_output_bytes),
        max_cpu_seconds=getattr(settings, "TEMPLATE_RENDER_MAX_CPU_SECONDS", DEFAULT_LIMITS.max_cpu_seconds),
    )
    _configured[:] = [limits]
    return limits


@receiver(setting_changed)
def _forget_limits(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("TEMPLATE_RENDER_"):
        _configured.clear()


class Refused(Exception):
    """A binding asked for something bounded templates never do (an oversized value, ``%`` on text)."""


class OverBudget(Refused):
    """The render went over its budget."""


_CHECK_EVERY = 16


class Budget:
    """What one render has used so far."""

    # The tree walker counts inline (the hot path): ``countdown`` nodes to go before it calls
    # ``check_nodes`` (every 16 nodes, and at the limit), and ``produced`` bytes; the sandbox
    # calls ``charge``.
    __slots__ = ("_ticks", "countdown", "limits", "max_produced", "nodes", "period", "produced", "started")

    def __init__(self, limits: RenderLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.max_produced = limits.max_output_bytes
        self.nodes = 0  # visited, up to the last check
        self.period = self.countdown = min(_CHECK_EVERY, limits.max_nodes + 1)
        self.produced = 0
        self._ticks = 0
        # The CPU clock costs a system call: it starts at the first check (16 nodes or 64
        # operations in, bounded work), not with every render.
        self.started: float | None = None

    def check_nodes(self) -> None:
        """Called when ``countdown`` reaches 0: over the node budget, or the time budget?"""
        self.nodes += self.period
        if self.nodes > self.limits.max_nodes:
            raise OverBudget(f"over the render budget: more than {self.limits.max_nodes} nodes")
        self.period = self.countdown = min(_CHECK_EVERY, self.limits.max_nodes + 1 - self.nodes)
        self.check_time()

    def charge(self, size: int) -> None:
        """Count ``size`` bytes produced (before producing them, where that is possible)."""
        self.produced += size
        if self.produced > self.max_produced:
            raise OverBudget(f"over the render budget: more than {self.max_produced} bytes produced")
        self._ticks += 1
        if not self._ticks & 63:
            self.check_time()

    def room(self) -> int:
        """Bytes the render may still produce."""
        return self.max_produced - self.produced

    def check_time(self) -> None:
        now = time.thread_time()
        if self.started is None:
            self.started = now
        elif now - self.started > self.limits.max_cpu_seconds:
            raise OverBudget(f"over the render budget: more than {self.limits.max_cpu_seconds * 1000:g} ms of CPU time")


_active: ContextVar[Budget | None] = ContextVar("ui_templates_render_budget", default=None)


def active_budget() -> Budget:
    """The budget of the render in progress (a fresh default one outside a render: compile time)."""
    return _active.get() or Budget()


def enter_budget(budget: Budget) -> Token[Budget | None]:
    """Make ``budget`` the one bindings charge while rendering (until ``leave_budget``)."""
    return _active.set(budget)


def leave_budget(token: Token[Budget | None]) -> None:
    _active.reset(token)


def size_of(value: Any, limit: int) -> int:
    """The bytes ``value`` takes as output (text as UTF-8, containers with their items), counting
    no further than ``limit`` (more than ``limit`` means: too big). Iterative, so nesting is no
    risk, and bounded by ``limit``, so sizing a huge value costs no more than a small one."""
    total = 0
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str:
            total += len(item) if item.isascii() else len(item.encode("utf-8", "surrogatepass"))
        elif kind is int:
            total += 1 + item.bit_length() // 3
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + len(item)
            if total <= limit:  # each item is at least one byte: never list more than ``limit``
                pending.extend(item)
        elif isinstance(item, Mapping):
            total += 2 + len(item)
            if total <= limit:
                for key, inner in item.items():
                    pending.append(key)
                    pending.append(inner)
        elif isinstance(item, str):
            total += len(item)
        else:
            total += 8
        if total > limit:
            return limit + 1
    return total
