"""The API documents itself: every operation of /api/v1/openapi.json has a description, examples
(its request body's, its success answers' where a schema describes them) and its problem+json
error responses — and every example is one its schema accepts."""

from __future__ import annotations

import jsonschema
import pytest

from apps.api.examples import BY_OPERATION, BY_SCHEMA

WRITES = {"post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document():
    from django.test import Client

    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", method, operation


def _has_example(content: dict) -> bool:
    return "example" in content or bool(content.get("examples"))


def _validate(document, schema: dict, value) -> None:
    """``value`` against ``schema``, its $refs resolved in the document's components."""
    wrapped = {**schema, "components": document["components"]}
    jsonschema.validate(value, wrapped, cls=jsonschema.Draft202012Validator)


def test_every_operation_has_a_description_beyond_its_summary(document, db):
    missing = [
        name
        for name, _, op in _operations(document)
        if not op.get("description") or op["description"].strip() == op.get("summary", "").strip()
    ]
    assert missing == []


def test_every_operation_has_examples_for_its_body_and_its_answers(document, db):
    missing = []
    for name, _, op in _operations(document):
        for media, content in op.get("requestBody", {}).get("content", {}).items():
            if not _has_example(content):
                missing.append(f"{name} body {media}")
        for status, response in op["responses"].items():
            for media, content in response.get("content", {}).items():
                if "schema" in content and not _has_example(content):
                    missing.append(f"{name} {status} {media}")
        if not any(
            _has_example(c) for r in op["responses"].values() for c in r.get("content", {}).values()
        ):
            missing.append(f"{name}: no response example at all")
    assert missing == []


def test_every_example_is_valid_for_its_schema(document, db):
    checked = 0
    for _name, _, op in _operations(document):
        contents = list(op.get("requestBody", {}).get("content", {}).items())
        contents += [
            (m, c) for r in op["responses"].values() for m, c in r.get("content", {}).items()
        ]
        for media, content in contents:
            if "json" in media and "schema" in content and "example" in content:
                _validate(document, content["schema"], content["example"])
                checked += 1
    assert checked > 150  # bodies, success answers and problem answers of ~90 operations


def test_every_operation_lists_its_problem_answers(document, db):
    missing = []
    for name, method, op in _operations(document):
        statuses = {str(s) for s in op["responses"]}
        expected = {"429"}
        if op.get("security"):
            expected.add("401")
        if op.get("parameters") or "requestBody" in op:
            expected |= {"400", "404", "422"}
        if "requestBody" in op:
            expected.add("413")
        if method in WRITES:
            expected |= {"403", "409"}
        for status in expected - statuses:
            missing.append(f"{name} {status}")
        for status in statuses - {"200", "201", "202", "204"}:
            problem = op["responses"][status].get("content", {}).get("application/problem+json")
            if problem is None:
                missing.append(f"{name} {status} is not problem+json")
    assert missing == []


def test_the_hand_written_examples_name_real_operations_and_schemas(document):
    names = {name for name, _, _ in _operations(document)}
    assert set(BY_OPERATION) <= names
    assert set(BY_SCHEMA) <= set(document["components"]["schemas"])


def test_the_run_start_example_is_what_a_caller_sends(document, db):
    body = document["paths"]["/api/v1/runs"]["post"]["requestBody"]["content"]["application/json"]
    assert body["example"] == {
        "dataset_id": 12,
        "detector_config_id": 3,
        "label_column": "is_fraud",
    }
    description = document["paths"]["/api/v1/runs"]["get"]["description"]
    assert "next_cursor" in description and "read-scope" in description
