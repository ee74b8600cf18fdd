"""A human-readable API reference rendered from our OpenAPI document, with no
script or stylesheet from the internet, so it works on an offline install."""

from __future__ import annotations

import html
import json
from typing import Any

from starlette.responses import HTMLResponse

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:0}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.op{margin:1em 0;padding:.6em 1em;border:1px solid #e3e3e3;border-radius:6px}
.m{display:inline-block;min-width:4.5em;font-weight:600;font-family:monospace}
.GET{color:#0a7}.POST{color:#06c}.DELETE{color:#c33}.PUT,.PATCH{color:#a60}
code,pre{font-family:ui-monospace,monospace;background:#f6f6f6;border-radius:4px}
pre{padding:.6em;overflow:auto;font-size:13px}details summary{cursor:pointer;color:#555}
"""


def reference_page(spec: dict[str, Any]) -> HTMLResponse:
    schemas = spec.get("components", {}).get("schemas", {})
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(spec['info']['title'])}"
        f"</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(spec['info']['title'])}</h1><p>{_e(spec['info'].get('description', ''))}</p>",
        "<p>Authenticate with <code>POST /api/v1/oauth/access_token</code>, then send "
        "<code>Authorization: Bearer &lt;token&gt;</code>. Bodies may be JSON or form-encoded. "
        "Machine-readable: <a href='/api/v1/openapi.json'>openapi.json</a>.</p>",
    ]
    for tag, ops in _by_tag(spec).items():
        parts.append(f"<h2>{_e(tag)}</h2>")
        parts.extend(_operation(method, path, op, schemas) for method, path, op in ops)
    parts.append("</body></html>")
    return HTMLResponse("".join(parts))


def _by_tag(spec: dict[str, Any]) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    groups: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            tag = (op.get("tags") or ["Other"])[0]
            groups.setdefault(tag, []).append((method.upper(), path, op))
    return groups


def _operation(method: str, path: str, op: dict[str, Any], schemas: dict[str, Any]) -> str:
    out = [
        f"<div class='op'><span class='m {method}'>{method}</span> <code>{_e(path)}</code>"
        f"<p>{_e(op.get('summary', ''))}</p>"
    ]
    params = [p for p in op.get("parameters", []) if p.get("in") in ("path", "query")]
    if params:
        rows = "".join(f"<li><code>{_e(p['name'])}</code> ({p['in']})</li>" for p in params)
        out.append(f"<p>Parameters:</p><ul>{rows}</ul>")
    content = op.get("requestBody", {}).get("content", {})
    if content:
        out.append(_schema_block("Request body", next(iter(content.values()))["schema"], schemas))
    ok = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json")
    if ok:
        out.append(_schema_block("Response", ok["schema"], schemas))
    out.append("</div>")
    return "".join(out)


def _schema_block(title: str, schema: dict[str, Any], schemas: dict[str, Any]) -> str:
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    body = json.dumps(schemas.get(name, schema), indent=2)
    return f"<details><summary>{title}: {_e(name)}</summary><pre>{_e(body)}</pre></details>"


def _e(text: str) -> str:
    return html.escape(str(text))
