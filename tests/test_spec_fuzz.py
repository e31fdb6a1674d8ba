"""Fuzzing the stack-spec loader: whatever a user types, it returns a spec or a SpecError naming file and key.

Three shapes of bad input: whole random documents (YAML and raw bytes), random values at the real keys
of a shipped stack file, and mangled structure (sections replaced by scalars or lists). Nothing but
SpecError may escape, and the message must point at the file and the key so the user can fix it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.profiles import PROFILES
from infra.spec import NAMESPACE, STACKS_DIR, SpecError, StackSpec, load_spec_file

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASES = ("dev", "staging", "prod")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),  # past int64: huge numbers must not crash pydantic
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),  # unicode, control characters, empty strings
    st.sampled_from(["", "0.0.0.0/0", "true", "1e309", "-1", "üñí©ødé", "\u202e", "a" * 300, "${x}"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _real_keys() -> list[tuple[str, ...]]:
    """Every key a stack file may set: the profile's sections and leaves, plus the top-level ones."""
    keys: set[tuple[str, ...]] = {("environment",), ("imageTag",), ("policy",), ("domain",), ("tags",)}
    for profile in PROFILES.values():
        for section, body in profile.items():
            keys.add((section,))
            if isinstance(body, dict):
                keys.update((section, leaf) for leaf in body)
    keys.add(("policy", "waivers"))
    return sorted(keys)


REAL_KEYS = _real_keys()


@contextmanager
def _stack_file(content: str | bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "Pulumi.fuzz.yaml"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        yield path


def _load(content: str | bytes) -> tuple[Path, StackSpec | SpecError]:
    with _stack_file(content) as path:
        try:
            return path, load_spec_file(path)
        except SpecError as err:  # anything else escaping fails the test with its traceback
            return path, err


def _base_document(base: str) -> dict[str, Any]:
    document = yaml.safe_load((STACKS_DIR / f"Pulumi.{base}.yaml").read_text())
    assert isinstance(document, dict)
    return document


def _with_value(base: str, key: tuple[str, ...], value: Any) -> dict[str, Any]:
    document = _base_document(base)
    config = document["config"]
    section = f"{NAMESPACE}:{key[0]}"
    if len(key) == 1:
        config[section] = value
    else:
        block = config.get(section)
        config[section] = {**(block if isinstance(block, dict) else {}), key[1]: value}
    return document


@FUZZ
@given(values)
def test_random_yaml_documents(document: Any) -> None:
    path, result = _load(yaml.safe_dump(document, allow_unicode=True))
    if isinstance(result, SpecError):
        assert str(path) in str(result)


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_random_bytes_and_text(content: bytes | str) -> None:
    path, result = _load(content)
    if isinstance(result, SpecError):
        assert str(path) in str(result)


@FUZZ
@given(st.sampled_from(BASES), st.sampled_from(REAL_KEYS), values)
def test_random_values_at_real_keys(base: str, key: tuple[str, ...], value: Any) -> None:
    path, result = _load(yaml.safe_dump(_with_value(base, key, value), allow_unicode=True))
    if isinstance(result, SpecError):
        message = str(result)
        assert str(path) in message
        # The key the user changed, or the section it sits in, must be named.
        assert any(f"{NAMESPACE}:{'.'.join(key[:n])}" in message for n in (len(key), 1)), message


@FUZZ
@given(st.sampled_from(BASES), st.sampled_from([k for k in REAL_KEYS if len(k) == 2]), st.integers())
def test_huge_and_negative_numbers_at_real_keys(base: str, key: tuple[str, ...], number: int) -> None:
    path, result = _load(yaml.safe_dump(_with_value(base, key, number * 10**30)))
    if isinstance(result, SpecError):
        assert str(path) in str(result) and key[1] in str(result)


def test_shipped_stack_files_still_load() -> None:
    for base in BASES:
        _, result = _load(yaml.safe_dump(_base_document(base)))
        assert isinstance(result, StackSpec), result


def test_environment_of_a_container_type_is_a_spec_error() -> None:
    path, result = _load(yaml.safe_dump(_with_value("dev", ("environment",), ["prod"])))
    assert (
        isinstance(result, SpecError)
        and f"{NAMESPACE}:environment" in str(result)
        and str(path) in str(result)
    )
