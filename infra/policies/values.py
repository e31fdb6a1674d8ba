"""Reading resource inputs the way the engine delivers them, without tripping over preview unknowns.

Both adapters hand rules plain dicts/lists: CrossGuard's unknown-checking proxies and secret wrappers are
peeled off first (see `plain`), so a rule never raises mid-check. A value the engine can't know yet stays
as the engine's sentinel string; `get` turns it (or anything under it) into `UNKNOWN`, and every helper
here treats `UNKNOWN` as "can't tell", which rules must never report as a violation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

# The engine's sentinels for values unknown during preview (the same strings pulumi_policy.proxy uses
# and the Python SDK's mocks emit); copied so the offline evaluator needs no policy runtime.
_SENTINELS: Final = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)
_SIG_KEY: Final = "4dabf18193072939515e22adb298388d"
_SECRET_SIG: Final = "1b47061264138c4ac30d75fd1eb44270"


class _Unknown:
    """A value the engine will only know after the update; falsy so `if not x` can't mistake it for set."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Final = _Unknown()


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN or (isinstance(value, str) and value in _SENTINELS)


def plain(value: Any) -> Any:
    """Plain dicts/lists from engine values: unwraps policy proxies, secret wrappers and secret envelopes."""
    target = _proxy_target(value)
    if target is not None:
        return plain(target)
    secret = getattr(value, "value", None) if type(value).__name__ == "Secret" else None
    if secret is not None:
        return plain(secret)
    if isinstance(value, Mapping):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return plain(value.get("value"))
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _proxy_target(value: Any) -> Any:
    # pulumi_policy's proxies expose the wrapped container under the magic key "__target".
    if type(value).__name__ not in {"_DictProxy", "_ListProxy", "_DictSecretsProxy", "_ListSecretsProxy"}:
        return None
    return value["__target"]


def get(obj: Any, path: str, default: Any = None) -> Any:
    """The value at a dotted path; `default` when absent or null, UNKNOWN when any step is unknown."""
    current = obj
    for key in path.split("."):
        if is_unknown(current):
            return UNKNOWN
        if not isinstance(current, Mapping) or current.get(key) is None:
            return default
        current = current[key]
    return UNKNOWN if is_unknown(current) else current


def flag(value: Any) -> bool | None:
    """True/False for booleans and the "true"/"false" strings some v7 inputs use; None when unknowable."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return None


def number(value: Any) -> float | None:
    if isinstance(value, bool) or is_unknown(value):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def items(value: Any) -> list[Any] | None:
    """A list input as a list; [] when absent, None when the list itself is unknown."""
    if value is None:
        return []
    if is_unknown(value):
        return None
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


def is_set(value: Any) -> bool:
    """Present and non-empty; an unknown counts as set because the program did supply something."""
    if value is UNKNOWN or is_unknown(value):
        return True
    return value not in (None, "", [], {})


def parse_document(value: Any) -> Mapping[str, Any] | None:
    """A JSON policy document (IAM, bucket policy) as a dict; None when unknown or not a JSON object."""
    if is_unknown(value) or value is None:
        return None
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, Mapping) else None
    return None


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = document.get("Statement", [])
    listed = raw if isinstance(raw, list) else [raw]
    return [s for s in listed if isinstance(s, Mapping)]


def strings(value: Any) -> list[str]:
    """A policy field that may be one string or a list of them (Action, Resource, principals)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return [v for v in value if isinstance(v, str)]
    return []
