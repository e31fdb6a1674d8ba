"""Predicate builders shared by the rule modules: most rules are "this input must be X", said once here.

Each builder returns a `ResourceCheck`: None when the resource passes or the value is unknown during
preview, else the rule's message. `{value}` in a message is replaced by the offending value.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from infra.policies.model import Resource, ResourceCheck
from infra.policies.values import flag, is_set, is_unknown, number


def _fail(message: str, value: Any) -> str:
    # Engine numbers are floats; 7.0 reads better as 7 in a message.
    shown = int(value) if isinstance(value, float) and value.is_integer() else value
    return message.replace("{value}", repr(shown))


def flag_is(path: str, wanted: bool, message: str, *, default: bool | None = None) -> ResourceCheck:
    """The input must be `wanted`; `default` is what AWS assumes when the program leaves it out."""

    def check(resource: Resource) -> str | None:
        raw = resource.get(path, default)
        if is_unknown(raw) or flag(raw) is wanted:
            return None
        return _fail(message, raw)

    return check


def flag_not(path: str, forbidden: bool, message: str) -> ResourceCheck:
    """The input must not be `forbidden` (absent is fine: the provider default is the safe value)."""

    def check(resource: Resource) -> str | None:
        raw = resource.get(path)
        return _fail(message, raw) if flag(raw) is forbidden else None

    return check


def at_least(path: str, minimum: float, message: str) -> ResourceCheck:
    def check(resource: Resource) -> str | None:
        raw = resource.get(path)
        if is_unknown(raw):
            return None
        value = number(raw)
        return None if value is not None and value >= minimum else _fail(message, raw)

    return check


def at_most(path: str, maximum: float, message: str, *, default: float) -> ResourceCheck:
    def check(resource: Resource) -> str | None:
        raw = resource.get(path, default)
        if is_unknown(raw):
            return None
        value = number(raw)
        return None if value is not None and value <= maximum else _fail(message, raw)

    return check


def one_of(path: str, allowed: Collection[str], message: str, *, default: str | None = None) -> ResourceCheck:
    def check(resource: Resource) -> str | None:
        raw = resource.get(path, default)
        return None if is_unknown(raw) or raw in allowed else _fail(message, raw)

    return check


def present(path: str, message: str) -> ResourceCheck:
    def check(resource: Resource) -> str | None:
        return None if is_set(resource.get(path)) else message

    return check


def absent(path: str, message: str) -> ResourceCheck:
    def check(resource: Resource) -> str | None:
        return _fail(message, resource.get(path)) if is_set(resource.get(path)) else None

    return check


def only_if(applies: Callable[[Resource], bool], check: ResourceCheck) -> ResourceCheck:
    """Run `check` only on the resources it is about (primaries not replicas, ALBs not NLBs)."""

    def guarded(resource: Resource) -> str | None:
        return check(resource) if applies(resource) else None

    return guarded


def first(*checks: ResourceCheck) -> ResourceCheck:
    """Several conditions, one rule: report the first that fails."""

    def combined(resource: Resource) -> str | None:
        return next((m for m in (c(resource) for c in checks) if m is not None), None)

    return combined
