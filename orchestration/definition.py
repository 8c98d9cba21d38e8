"""A state machine definition file: reading it, its ``${Name}`` placeholders, its digests.

This is what the deploy does to ``*.asl.json`` (CloudFormation ``DefinitionSubstitutions``)
and what the local executor (``local_aws.stepfunctions``) reads; it sits in
``orchestration`` so the definitions' own package never imports a twin.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class AslDefinitionError(ValueError):
    """The definition is malformed or uses a feature this executor does not implement."""


class PlaceholderError(ValueError):
    """A ``${Name}`` placeholder has no value (or a value is not a string)."""



# --------------------------------------------------------------------------- placeholders

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)


def placeholders(definition: Any) -> set[str]:
    """Names of every ``${Name}`` placeholder in a definition."""
    return {m.group(1) for s in walk_strings(definition) for m in _PLACEHOLDER.finditer(s)}


def substitute_placeholders(definition: Any, values: Mapping[str, str]) -> Any:
    """Return a copy of ``definition`` with every ``${Name}`` replaced from ``values``.

    Raises :class:`PlaceholderError` naming every placeholder that has no value.
    """
    missing = sorted(placeholders(definition) - set(values))
    if missing:
        raise PlaceholderError(f"no value for placeholder(s): {', '.join(missing)}")
    for key, val in values.items():
        if not isinstance(val, str):
            raise PlaceholderError(f"placeholder {key} must be a string, got {type(val).__name__}")

    def sub(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return sub(value)
        if isinstance(value, dict):
            return {sub(k): walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(definition)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            # A JSON parser would silently keep the last one; Step Functions rejects the
            # definition (duplicate state names or fields), so the local executor does too.
            raise AslDefinitionError(f"duplicate key {key!r} in the definition")
        seen[key] = value
    return seen


def parse_definition_text(text: str) -> Any:
    """``json.loads`` that refuses duplicate keys (:class:`AslDefinitionError`)."""
    return json.loads(text, object_pairs_hook=_no_duplicate_keys)


def load_definition(path: Path | str) -> dict[str, Any]:
    """Read an ``.asl.json`` file; a clear :class:`AslDefinitionError` if it is not JSON."""
    p = Path(path)
    try:
        data = parse_definition_text(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AslDefinitionError(f"state machine definition not found: {p}") from None
    except json.JSONDecodeError as exc:
        raise AslDefinitionError(f"{p} is not valid JSON: {exc}") from None
    except AslDefinitionError as exc:
        raise AslDefinitionError(f"{p}: {exc}") from None
    if not isinstance(data, dict):
        raise AslDefinitionError(f"{p}: a definition must be a JSON object")
    return data


_JSON_UNSAFE = re.compile(r'["\\\x00-\x1f]')


def render_definition(text: str, values: Mapping[str, str]) -> str:
    """Replace every ``${Name}`` in the definition *text* from ``values``.

    This is what Step Functions' ``DefinitionSubstitutions`` (CloudFormation / CDK)
    does to the deployed file: a textual replacement, nothing else changes. Values
    must be strings that need no JSON escaping (resource names and ARNs), so the text
    stays valid JSON and the result equals :func:`substitute_placeholders` on the
    parsed file. Raises :class:`PlaceholderError` naming missing or unsafe values.
    """
    missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} - set(values))
    if missing:
        raise PlaceholderError(f"no value for placeholder(s): {', '.join(missing)}")
    for key, val in values.items():
        if not isinstance(val, str):
            raise PlaceholderError(f"placeholder {key} must be a string, got {type(val).__name__}")
        if _JSON_UNSAFE.search(val):
            raise PlaceholderError(f"placeholder {key}: value {val!r} would need JSON escaping")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


@dataclass(frozen=True)
class DefinitionSource:
    """The file a definition was read from and the sha256 of its bytes (pre-substitution)."""

    path: str
    sha256: str


class LoadedDefinition(dict[str, Any]):
    """A parsed, substituted definition that remembers its :class:`DefinitionSource`.

    :class:`AslExecutor` records ``source.sha256`` in every run's history, so a run can
    be traced to the exact bytes of the file it executed.
    """

    def __init__(self, data: Mapping[str, Any], source: DefinitionSource) -> None:
        super().__init__(data)
        self.source = source


def load_definition_file(path: Path | str, values: Mapping[str, str]) -> LoadedDefinition:
    """Read an ``.asl.json`` file, substitute placeholders in its text, parse it.

    The bytes read are hashed before anything else touches them; the returned
    definition carries that hash (:class:`LoadedDefinition`).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise AslDefinitionError(f"state machine definition not found: {p}") from None
    try:
        data = parse_definition_text(render_definition(raw.decode("utf-8"), values))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AslDefinitionError(f"{p} is not valid JSON: {exc}") from None
    except AslDefinitionError as exc:
        raise AslDefinitionError(f"{p}: {exc}") from None
    if not isinstance(data, dict):
        raise AslDefinitionError(f"{p}: a definition must be a JSON object")
    return LoadedDefinition(data, DefinitionSource(str(p), hashlib.sha256(raw).hexdigest()))


def definition_digest(definition: Mapping[str, Any]) -> str:
    """sha256 of a parsed definition in canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

