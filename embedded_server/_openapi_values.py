"""Values for a route's parameters, from its OpenAPI schema, as Swagger UI and schemathesis
would fill them.

`candidates(parameter, components)` lists, best first: the parameter's `example`, its
`examples` (the first), the schema's `example`/`examples`, `default`, `enum` (the first),
then values of the declared type and format that pass the schema's simple constraints
(bounds, lengths, patterns a short list of plain words satisfies). `$ref`s into the
components are followed (FastAPI puts Enums there) and `anyOf`/`oneOf` take their first
non-null branch (FastAPI writes `Optional[X]` so). Each value is text, ready for a path or
a query.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

# At most this many values per parameter: the pre-flight tries a few combinations, not all.
MAX_CANDIDATES = 4
_MAX_REF_DEPTH = 8

# Swagger UI's sample values for the formats, so a reader recognises them.
_FORMAT_VALUES: dict[str, tuple[str, ...]] = {
    "uuid": ("3fa85f64-5717-4562-b3fc-2c963f66afa6",),
    "date": ("2024-01-01",),
    "date-time": ("2024-01-01T00:00:00Z",),
    "time": ("12:00:00",),
    "duration": ("P1D",),
    "email": ("user@example.com",),
    "uri": ("https://example.com/",),
    "url": ("https://example.com/",),
    "ipv4": ("127.0.0.1",),
    "ipv6": ("::1",),
    "hostname": ("example.com",),
}
# Plain strings to try, in order, against a pattern and lengths.
_WORDS = (
    "string",
    "1",
    "a",
    "abc",
    "ABC",
    "Abc1",
    "abc123",
    "123",
    "a1",
    "a-b",
    "a_b",
    "x.txt",
)


def candidates(
    parameter: Mapping[str, Any],
    components: Mapping[str, Any] | None = None,
    *,
    path_convertor: bool = False,
    invent: bool = True,
) -> tuple[str, ...]:
    """Values for one OpenAPI parameter object, best first, at most `MAX_CANDIDATES`.

    invent: False for an optional parameter, which is sent only with a value the schema
    gives (an example, a default), as a person leaves an optional field empty.

    path_convertor: a `{p:path}` parameter, which may hold a slash (never a leading one);
    any other path parameter gets no value with a slash, since the router splits on it.
    """
    schema = _resolve(parameter.get("schema") or {}, components or {})
    found: list[Any] = []
    if "example" in parameter:
        found.append(parameter["example"])
    found.extend(_first_example(parameter.get("examples")))
    found.extend(_schema_values(schema, components or {}, invent=invent))
    texts: list[str] = []
    for value in found:
        text = _text(value)
        if text is None:
            continue
        if parameter.get("in") == "path":
            text = text.lstrip("/") if path_convertor else text
            if not text or (not path_convertor and "/" in text):
                continue
        if text not in texts:
            texts.append(text)
        if len(texts) == MAX_CANDIDATES:
            break
    return tuple(texts)


def _first_example(examples: object) -> list[Any]:
    """OpenAPI's `examples`: a map of Example objects (`{"name": {"value": ...}}`), or
    JSON Schema's list of values."""
    if isinstance(examples, Mapping):
        for example in examples.values():
            if isinstance(example, Mapping) and "value" in example:
                return [example["value"]]
        return []
    if isinstance(examples, list) and examples:
        return [examples[0]]
    return []


def _schema_values(
    schema: Mapping[str, Any], components: Mapping[str, Any], *, invent: bool = True
) -> list[Any]:
    values: list[Any] = []
    if "example" in schema:
        values.append(schema["example"])
    values.extend(_first_example(schema.get("examples")))
    if schema.get("default") is not None:
        values.append(schema["default"])
    if "const" in schema:
        values.append(schema["const"])
    branch = _branch(schema, components)
    if branch is not None:
        return values + _schema_values(branch, components, invent=invent)
    if not invent:
        return values
    enum = [value for value in schema.get("enum") or () if value is not None]
    if enum:
        values.append(enum[0])
        return values  # nothing else passes an enum
    return values + list(_typed(schema, components))


def _branch(schema: Mapping[str, Any], components: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first non-null branch of `anyOf`/`oneOf` (Optional[X] is `anyOf: [X, null]`), or
    the single schema of an `allOf` (older FastAPI wraps a `$ref` so)."""
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key) or ():
            resolved = _resolve(option, components)
            if resolved.get("type") != "null":
                return resolved
    all_of: list[Any] = schema.get("allOf") or []
    if len(all_of) == 1:
        return _resolve(all_of[0], components)
    return None


def _resolve(schema: Mapping[str, Any], components: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow `$ref: "#/components/schemas/Name"` (a few levels at most)."""
    for _ in range(_MAX_REF_DEPTH):
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/components/"):
            return schema
        target: Any = {"components": components}
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        if not isinstance(target, Mapping):
            return {}
        # Keywords beside the $ref (a default, an example) belong to this use of it.
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _typed(schema: Mapping[str, Any], components: Mapping[str, Any]) -> Iterable[Any]:
    kind = schema.get("type")
    if isinstance(kind, list):  # 3.1: ["string", "null"]
        kind = next((k for k in kind if k != "null"), None)
    if kind == "integer":
        return _numbers(schema, integer=True)
    if kind == "number":
        return _numbers(schema, integer=False)
    if kind == "boolean":
        return (True, False)
    if kind == "array":
        items = _resolve(schema.get("items") or {}, components)
        return [[value] for value in _schema_values(items, components)] if items else []
    if kind == "string" or (kind is None and not {"properties", "items"} & schema.keys()):
        # No type at all (an untyped `def f(item_id)`) takes anything: a plain word does.
        return _strings(schema)
    return ()


def _numbers(schema: Mapping[str, Any], *, integer: bool) -> list[float]:
    low = _bound(schema, "minimum", "exclusiveMinimum", +1, integer=integer)
    high = _bound(schema, "maximum", "exclusiveMaximum", -1, integer=integer)
    step = schema.get("multipleOf")
    tries = [1.0, 0.0, 10.0, 100.0]
    if low is not None:
        tries.insert(0, low)
    if high is not None:
        tries.insert(1 if low is not None else 0, high)
    if low is not None and high is not None:
        tries.insert(1, (low + high) / 2)
    found: list[float] = []
    for value in tries:
        if isinstance(step, int | float) and step > 0:
            value = math.ceil(value / step - 1e-9) * step
        if integer:
            value = float(math.ceil(value))
        if (low is None or value >= low) and (high is None or value <= high) and value not in found:
            found.append(value)
    return found


def _bound(
    schema: Mapping[str, Any], inclusive: str, exclusive: str, sign: int, *, integer: bool
) -> float | None:
    """The lowest (sign +1) or highest (-1) value allowed, as a float."""
    value = schema.get(inclusive)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    value = schema.get(exclusive)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Past an exclusive bound: the next integer, or a step that stays readable.
        if integer:
            return float(math.floor(value) + 1 if sign > 0 else math.ceil(value) - 1)
        return float(value) + sign * (1.0 if abs(value) >= 10 else 0.5)
    return None


def _strings(schema: Mapping[str, Any]) -> list[str]:
    pattern = schema.get("pattern")
    min_length, max_length = schema.get("minLength"), schema.get("maxLength")
    low = min_length if isinstance(min_length, int) else 0
    high = max_length if isinstance(max_length, int) else None
    # A known format takes its own value only: plain words would be refused.
    words = _FORMAT_VALUES.get(str(schema.get("format"))) or _WORDS
    found: list[str] = []
    made = _from_pattern(pattern) if isinstance(pattern, str) else None
    for word in ((made,) if made is not None else ()) + tuple(words):
        fitted = _fit(word, low, high)
        if fitted is None or fitted in found:
            continue
        if isinstance(pattern, str) and not _matches(pattern, fitted):
            continue
        found.append(fitted)
    if not found:  # a pattern none of the plain words meets: try one anyway, the app decides
        fitted = _fit("string", low, high)
        found = [fitted] if fitted is not None else []
    return found


# One character each escape or class stands for, in a made-up value.
_ESCAPES = {"d": "1", "w": "a", "s": " "}
_QUANTIFIER = re.compile(r"\{(\d+)(?:,(\d*))?\}|[+*?]")


def _from_pattern(pattern: str) -> str | None:
    """A short string a simple pattern (literals, `\\d`/`\\w`, `[...]`, quantifiers, anchors)
    matches, e.g. `^\\d{3}-[A-Z]{2}$` -> "111-AA"; None for anything richer (groups,
    alternation, negated classes): the plain words are tried instead."""
    body = pattern.removeprefix("^").removesuffix("$")
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char in "()|^$":
            return None
        if char == "\\" and i + 1 < len(body):
            atom = _ESCAPES.get(body[i + 1], body[i + 1])
            if body[i + 1].isalpha() and body[i + 1] not in _ESCAPES:
                return None  # \b, \D, \p...: not simple
            i += 2
        elif char == "[":
            end = body.find("]", i + 2)
            if end < 0 or body[i + 1] == "^":
                return None
            first = body[i + 1]
            if first == "\\":
                first = _ESCAPES.get(body[i + 2], body[i + 2])
            atom = first
            i = end + 1
        elif char == ".":
            atom, i = "a", i + 1
        else:
            atom, i = char, i + 1
        count = 1
        quantifier = _QUANTIFIER.match(body, i)
        if quantifier is not None:
            text = quantifier.group(0)
            count = int(quantifier.group(1)) if quantifier.group(1) else (1 if text == "+" else 0)
            i = quantifier.end()
        if count > 64:
            return None
        out.append(atom * count)
    made = "".join(out)
    return made if _matches(pattern, made) else None


def _fit(word: str, low: int, high: int | None) -> str | None:
    if len(word) < low:
        word = word + word[-1:] * (low - len(word)) if word else "s" * low
    if high is not None and len(word) > high:
        word = word[:high]
    return word if len(word) >= low else None


def _matches(pattern: str, text: str) -> bool:
    try:
        # JSON Schema patterns are not anchored: a search, as pydantic does.
        return re.search(pattern, text) is not None
    except re.error:
        return True  # a pattern Python cannot read: let the app judge the value


def _text(value: Any) -> str | None:
    """A schema value as it goes in a URL: booleans as JSON writes them, a list's first item."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, list):
        return _text(value[0]) if value else None
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
