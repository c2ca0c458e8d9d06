"""The error half of the OpenAPI document: every problem+json answer an operation can give.

ninja documents the success responses it is told about. The errors come from shared code
(authentication, throttling, validation, the handlers in :mod:`apps.api.errors`), so they
are added here, from the shape of each operation, instead of repeating them on ~80 routes:

* every operation: 429 (rate limits apply to every request); 401 when it needs a token;
* parameters or a body: 400 (not JSON, a cursor that is not ours), 404 (an object it
  names is unknown, or another workspace's — the API never says which) and 422
  (validation, naming the fields);
* any input: 409 too — what it names may be in a state that refuses the request (a run
  without results yet, a configuration in use);
* a body: 413 (over the size limit, checked before reading);
* a write (POST/PUT/PATCH/DELETE): 403 (role or token scope) and 409 (the object's state
  refuses it: in use, already finished, one in flight).

``tests/integration/test_api_schemathesis.py`` holds the document to the server: any status
the server answers that is not documented fails it.

The rest of each operation's documentation is added here too: a description (its docstring,
then how to call it — token scope, paging, what an asynchronous answer means), request body
examples (hand-written, :mod:`apps.api.examples`) and success response examples built from
the response schemas. ``tests/web/api/test_openapi_documented.py`` fails on an operation
without them.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from ninja import NinjaAPI

from . import examples
from .errors import PROBLEM

_WRITES = {"post", "put", "patch", "delete"}

_WHEN = {
    400: "The body is not valid JSON (or not the declared format), or a cursor is not ours.",
    401: "No valid API token: missing, unknown, revoked or expired.",
    403: "The token's user may not do this here (role or token scope).",
    404: "No such object in this workspace.",
    409: "The object's current state refuses this (in use, finished, already running).",
    413: "The request body is larger than the limit; nothing was read past it.",
    422: "A parameter or a field of the body is not valid; `errors` names each one.",
    429: "Too many requests; retry after the `Retry-After` seconds.",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    """The problem statuses ``operation`` can answer, by the rules in the module docstring."""
    statuses = {429}
    if operation.get("security"):
        statuses.add(401)
    has_body = "requestBody" in operation
    if has_body or operation.get("parameters"):
        # what the input names may not exist (a path id, a dataset_id in a body, ?a=&b=)
        # 409: what it names is in a state that refuses this (a run without results yet)
        statuses |= {400, 404, 409, 422}
    if has_body:
        statuses.add(413)
    if method in _WRITES:
        statuses |= {403, 409}
    return sorted(statuses)


def _response(status: int, when: str = "") -> dict[str, Any]:
    when = when or _WHEN[status]
    example = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": when,
    }
    if status == 422:
        example["errors"] = [{"loc": ["body", "name"], "msg": "Field required"}]
    return {
        "description": when,
        "content": {
            PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}, "example": example}
        },
    }


# ---------------------------------------------------------------- examples from schemas
_STRING_FORMATS = {
    "date-time": "2026-01-05T10:00:00Z",
    "date": "2026-01-05",
    "uri": "https://example.com/",
    "email": "alice@example.com",
    "uuid": "3f6c1c9e-2f43-4c55-9a53-0d6c1b2f8e11",
    "binary": "(file contents)",
}


def example_for(schema: dict[str, Any], components: dict[str, Any], *, name: str = "", depth=0):
    """A value that ``schema`` accepts: its own example or default, else one built from its shape."""
    if "$ref" in schema:
        if depth > 8:
            return None
        target = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
        return example_for(target, components, name=name, depth=depth + 1)
    for key in ("example", "const"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return example_for(options[0], components, name=name, depth=depth + 1)
    if schema.get("default") is not None:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {
            key: example_for(sub, components, name=key, depth=depth + 1)
            for key, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        item = example_for(schema.get("items", {}), components, name=name, depth=depth + 1)
        return [item] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        low, high = schema.get("minimum", 0.0), schema.get("maximum", 1.0)
        return round(low + (high - low) / 4, 3) if high > low else low
    if kind == "boolean":
        return False
    if kind == "string":
        if schema.get("format") in _STRING_FORMATS:
            return _STRING_FORMATS[schema["format"]]
        text = name.replace("_", " ") or "text"
        return text[: schema.get("maxLength", len(text))].ljust(schema.get("minLength", 0), "x")
    return None


def _document_examples(path: str, method: str, operation: dict, components: dict) -> None:
    body = operation.get("requestBody", {}).get("content", {})
    by_operation = examples.BY_OPERATION.get(f"{method.upper()} {path}", {})
    for media, content in body.items():
        if "example" in content or "examples" in content:
            continue
        ref = content.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
        if media in by_operation:
            content["example"] = by_operation[media]
        elif ref in examples.BY_SCHEMA:
            content["example"] = examples.BY_SCHEMA[ref]
        elif "schema" in content:
            content["example"] = example_for(content["schema"], components)
    for status, response in operation.get("responses", {}).items():
        if not str(status).startswith("2"):
            continue
        for content in response.get("content", {}).values():
            if "schema" in content and "example" not in content and "examples" not in content:
                content["example"] = example_for(content["schema"], components)


# ---------------------------------------------------------------- descriptions
_SCOPE = {
    "read": "Authenticate with `Authorization: Bearer pyn_…`; a read-scope token is enough.",
    "write": (
        "Changes something: the token needs write scope and its user a role that may do this "
        "here (403 otherwise)."
    ),
    "label": (
        "Labels data: the token needs write scope and its user a role that may label "
        "(analyst or above; 403 otherwise)."
    ),
}


def _how_to_call(path: str, method: str, operation: dict, access: str) -> list[str]:
    # no security: the operation authenticates its own way (a stream's push token), and says so
    lines = [_SCOPE[access]] if operation.get("security") else []
    names = {p["name"] for p in operation.get("parameters", [])}
    if "cursor" in names:
        lines.append(
            "One page at a time: `limit` items, then pass the answer's `next_cursor` back as "
            "`cursor` for the next page (`null` when there is none)."
        )
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        lines.append(
            "The ids in the path name objects of the token's workspace; another workspace's "
            "answer 404, as an unknown one does."
        )
    if "202" in operation.get("responses", {}) or 202 in operation.get("responses", {}):
        lines.append(
            "Answers `202 Accepted` at once; the work continues on a worker — poll the object "
            "the answer names until its status is final."
        )
    return lines


def _document_description(path: str, method: str, operation: dict, access: str) -> None:
    own = (operation.get("description") or "").strip()
    first = own or (operation.get("summary", "").rstrip(".") + ".")
    how = " ".join(_how_to_call(path, method, operation, access))
    operation["description"] = f"{first}\n\n{how}" if how else first


def document_operations(schema: dict[str, Any], access: dict[str, str]) -> dict[str, Any]:
    """``schema`` with each operation's description and examples (``access``: by operationId)."""
    components = schema.get("components", {}).get("schemas", {})
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            level = access.get(operation.get("operationId", ""), "read")
            _document_description(path, method, operation, level)
            _document_examples(path, method, operation, components)
    return schema


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the Problem component and each operation's error responses added."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in error_statuses(path, method, operation):
                responses.setdefault(status, _response(status))
            for status, response in responses.items():
                # an error a route declares itself, in words: the problem+json shape it has
                if int(status) >= 400 and not response.get("content"):
                    responses[status] = _response(int(status), response.get("description", ""))
    return schema


class DocumentedAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI document lists the problem+json error responses, a description
    and examples for every operation too."""

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        return document_operations(document_errors(schema), self._access())

    def _access(self) -> dict[str, str]:
        """operationId → what its token needs: read (the API's default), write or label."""
        access = {}
        for _prefix, router in self._routers:
            for path_view in router.path_operations.values():
                for op in path_view.operations:
                    callbacks = op.auth_callbacks
                    level = "read"
                    if any(type(a).__name__ == "LabelAuth" for a in callbacks):
                        level = "label"
                    elif any(getattr(a, "write", False) for a in callbacks):
                        level = "write"
                    access[self.get_openapi_operation_id(op)] = level
        return access
