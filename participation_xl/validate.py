"""Validation against the JSON Schemas, translated into the message catalogue.

jsonschema finds every error (`iter_errors`); this module turns each into a catalogue code
with the values its template needs, keyed by the path of the field it concerns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import jsonschema

from .messages import Code


@dataclass(frozen=True)
class SchemaProblem:
    """One schema error: where (a path of keys and indexes), which code, and its values."""

    path: tuple[str | int, ...]
    code: Code
    values: dict[str, Any]


_TYPE_CODES = {"integer": Code.ANSWER_INTEGER, "number": Code.ANSWER_NUMBER}
_FORMAT_CODES = {"date": Code.ANSWER_DATE, "email": Code.ANSWER_EMAIL}


def schema_problems(
    validator: jsonschema.protocols.Validator, document: Any
) -> Iterator[SchemaProblem]:
    """Every error in `document`, each as a catalogue code at a field path, once."""
    seen: set[tuple[tuple[str | int, ...], str]] = set()
    for error in validator.iter_errors(document):
        # jsonschema raises one `required` error per missing key, each listing all keys.
        # The pack's schemas are objects (a schema may be a bare bool; ours never are).
        for problem in _translate(error, cast(dict[str, Any], validator.schema)):
            if (problem.path, problem.code) not in seen:
                seen.add((problem.path, problem.code))
                yield problem


def _translate(error: jsonschema.ValidationError, root: dict[str, Any]) -> Iterator[SchemaProblem]:
    path = tuple(error.absolute_path)
    if error.validator == "required":
        conditional = "then" in error.absolute_schema_path
        values = {"other": _condition_field(error, root)} if conditional else {}
        code = Code.ANSWER_REQUIRED_WHEN if conditional else Code.ANSWER_REQUIRED
        for key in cast(list[str], error.validator_value):  # `required` lists names
            if isinstance(error.instance, dict) and key not in error.instance:
                yield SchemaProblem((*path, key), code, values)
        return
    if error.validator in ("anyOf", "oneOf"):
        for sub in error.context or ():
            yield from _translate(sub, root)
        return
    yield SchemaProblem(path, *_simple(error))


def _condition_field(error: jsonschema.ValidationError, root: dict[str, Any]) -> str:
    """The sibling whose answer made a field required: the `if` beside the failed `then`."""
    node: Any = root
    # The schema path ends [..., "then", "required"]; the rule holding `if` is two up.
    for part in list(error.absolute_schema_path)[:-2]:
        if isinstance(node, dict) and part not in node and "$ref" in node:
            # jsonschema leaves "$ref" out of schema paths: follow it within this schema.
            node = root["$defs"][node["$ref"].removeprefix("#/$defs/")]
        node = node[part]
    return next(iter(node.get("if", {}).get("properties", {})), "")


def _simple(error: jsonschema.ValidationError) -> tuple[Code, dict[str, Any]]:
    # The stubs allow Unset for errors built by hand; iter_errors always sets these.
    value: Any = error.instance
    limit: Any = error.validator_value
    kind = error.validator
    if kind in ("enum", "const"):
        options = limit if kind == "enum" else [limit]
        return Code.ANSWER_CHOICE, {"value": value, "options": ", ".join(map(str, options))}
    if kind == "type":
        expected = error.validator_value
        code = _TYPE_CODES.get(expected if isinstance(expected, str) else "")
        if code is None and isinstance(error.schema, dict):  # 5 where a date is asked: no date
            code = _FORMAT_CODES.get(error.schema.get("format", ""))
        return code or Code.ANSWER_INVALID, {"value": value, "detail": error.message}
    if kind == "format":
        code = _FORMAT_CODES.get(limit, Code.ANSWER_INVALID)
        return code, {"value": value, "detail": error.message}
    if kind in ("minimum", "exclusiveMinimum"):
        return Code.ANSWER_TOO_SMALL, {"value": value, "limit": error.validator_value}
    if kind in ("maximum", "exclusiveMaximum"):
        return Code.ANSWER_TOO_LARGE, {"value": value, "limit": error.validator_value}
    if kind == "maxLength":
        return Code.ANSWER_TOO_LONG, {"length": len(value), "limit": error.validator_value}
    if kind == "pattern":
        schema = cast(Mapping[str, Any], error.schema)  # a `pattern`'s own is an object
        email = schema.get("format") == "email"
        hint = schema.get("description", "")
        return (Code.ANSWER_EMAIL if email else Code.ANSWER_PATTERN), {"value": value, "hint": hint}
    if kind == "minLength":
        return Code.ANSWER_REQUIRED, {}
    if kind == "minItems":
        return Code.ANSWER_MIN_ROWS, {"limit": error.validator_value}
    if kind == "maxItems":
        return Code.ANSWER_TOO_MANY_ROWS, {"limit": error.validator_value}
    return Code.ANSWER_INVALID, {"detail": error.message}
