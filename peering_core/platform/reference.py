"""The API reference as one HTML page, rendered from the OpenAPI document (``GET /docs``).

The server's own HTML, not a JavaScript viewer fetched from a CDN: no third-party script runs
on a page of the platform's origin, where the browser holds the reader's Basic credentials,
and the page works where the platform cannot reach the internet. Every value is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; }
h2 { border-top: 1px solid #ccc; padding-top: 1rem; }
h3 { margin-bottom: .2rem; } code { background: #f3f3f3; padding: 0 .2rem; }
table { border-collapse: collapse; margin: .4rem 0 1rem; }
td, th { border: 1px solid #ddd; padding: .2rem .5rem; text-align: left; vertical-align: top; }
.method { font-weight: bold; text-transform: uppercase; }
"""
_PATTERN_SHOWN = 60


def reference_page(doc: dict[str, Any]) -> str:
    """The whole reference: every operation with its parameters, body, answers and links."""
    info = doc["info"]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(info['title'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(info['title'])} {escape(info['version'])}</h1>",
        f"<p>{escape(info.get('description', ''))}</p>",
        '<p>The OpenAPI document: <a href="/openapi.json">/openapi.json</a>.</p><ul>',
    ]
    operations = [
        (path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
    ]
    for path, method, op in operations:
        parts.append(
            f'<li><a href="#{escape(op["operationId"])}">'
            f"<span class=method>{escape(method)}</span> {escape(path)}</a></li>"
        )
    parts.append("</ul>")
    schemas = doc.get("components", {}).get("schemas", {})
    for path, method, op in operations:
        parts.extend(_operation(path, method, op, schemas))
    parts.append("</body></html>")
    return "".join(parts)


def _operation(path: str, method: str, op: dict[str, Any], schemas: dict[str, Any]) -> list[str]:
    parts = [
        f'<h2 id="{escape(op["operationId"])}"><span class=method>{escape(method)}</span> '
        f"<code>{escape(path)}</code></h2>",
        f"<p><code>{escape(op['operationId'])}</code> — {escape(op.get('summary', ''))}"
        + (" (no credentials)" if op.get("security") == [] else "")
        + "</p>",
    ]
    rows = [
        (p["name"], p["in"], "yes" if p.get("required") else "", _shape(p.get("schema", {})))
        for p in op.get("parameters", [])
    ]
    if rows:
        parts.append(_table(("parameter", "in", "required", "value"), rows))
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    if body:
        model = _resolve(body["schema"], schemas)
        required = set(model.get("required", ()))
        fields = [
            (name, "yes" if name in required else "", _shape(field))
            for name, field in model.get("properties", {}).items()
        ]
        parts.append("<h3>Body (JSON)</h3>")
        parts.append(_table(("field", "required", "value"), fields))
    answers = []
    for status, response in op["responses"].items():
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        answers.append((status, response.get("description", ""), _answer(schema)))
    parts.append("<h3>Answers</h3>")
    parts.append(_table(("status", "when", "body"), answers))
    links = [
        (f"{status} → {link['operationId']}", link.get("description", ""), _bindings(link))
        for status, response in op["responses"].items()
        for link in response.get("links", {}).values()
    ]
    if links:
        parts.append("<h3>Links</h3>")
        parts.append(_table(("answer → operation", "what", "with"), links))
    return parts


def _table(header: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return schemas.get(ref.rsplit("/", 1)[-1], {}) if ref else schema


def _shape(schema: dict[str, Any]) -> str:
    """A value's schema in a few words: type, enum, bounds, pattern, description."""
    if "anyOf" in schema:
        text = " or ".join(_shape(s) for s in schema["anyOf"])
    elif "$ref" in schema:
        text = schema["$ref"].rsplit("/", 1)[-1]
    else:
        text = schema.get("type", "any")
        if text == "array":
            text = f"array of {_shape(schema.get('items', {}))}"
    words = [text]
    if "enum" in schema:
        words.append("one of " + ", ".join(map(str, schema["enum"])))
    for key, name in (("minimum", "≥"), ("maximum", "≤"), ("maxLength", "length ≤")):
        if key in schema:
            words.append(f"{name} {schema[key]}")
    pattern = schema.get("pattern")
    if pattern:
        cut = pattern if len(pattern) <= _PATTERN_SHOWN else pattern[:_PATTERN_SHOWN] + "…"
        words.append(f"matching {cut.encode('unicode_escape').decode()}")
    if "default" in schema:
        words.append(f"default {schema['default']!r}")
    if "description" in schema:
        words.append(f"— {schema['description']}")
    return ", ".join(words)


def _answer(schema: dict[str, Any] | None) -> str:
    if schema is None:
        return ""
    codes = [
        code
        for part in schema.get("allOf", ())
        for code in part.get("properties", {}).get("code", {}).get("enum", ())
    ]
    return "error, code " + " or ".join(codes) if codes else _shape(schema)


def _bindings(link: dict[str, Any]) -> str:
    values = {**link.get("parameters", {}), **link.get("requestBody", {})}
    return ", ".join(f"{name} = {value}" for name, value in values.items())
