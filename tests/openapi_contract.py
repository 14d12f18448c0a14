"""An OpenAPI document in specs/ as a test oracle: does an answer (or a request body the
tests send as valid) match what the document says for its operation?"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urljoin

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.routing import BaseRoute, Route

from identity.schemas import SPECS_DIR


class OpenApiContract:
    """``specs/<filename>`` with the JSON Schemas beside it, ready to check responses."""

    def __init__(self, filename: str) -> None:
        self.uri = f"https://akashi.example/specs/{filename}"
        self.document: dict[str, Any] = json.loads((SPECS_DIR / filename).read_text(encoding="utf-8"))
        resources: list[tuple[str, Resource[Any]]] = []
        for path in SPECS_DIR.glob("*.schema.json"):
            resource = Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT202012)
            # Relative references in the document resolve beside it, i.e. to the schemas' $ids.
            resources.append((resource.id() or path.name, resource))
        resources.append((self.uri, Resource.from_contents(self.document, default_specification=DRAFT202012)))
        self.registry: Registry = Registry().with_resources(resources)

    def _rebase(self, schema: Any) -> Any:
        """A schema from inside the document, its references made absolute (resolved beside it)."""
        if isinstance(schema, dict):
            return {k: (urljoin(self.uri, v) if k == "$ref" else self._rebase(v)) for k, v in schema.items()}
        if isinstance(schema, list):
            return [self._rebase(item) for item in schema]
        return schema

    def check(self, schema: Any, value: Any) -> None:
        """``value`` validates against ``schema`` (taken from the document)."""
        Draft202012Validator(self._rebase(schema), registry=self.registry).validate(value)

    def _component(self, value: dict[str, Any], kind: str) -> dict[str, Any]:
        if "$ref" in value:
            found: dict[str, Any] = self.document["components"][kind][value["$ref"].rsplit("/", 1)[1]]
            return found
        return value

    def conforms(self, response: Any, path: str, method: str) -> Any:
        """Status, media type, required headers and body are what the document says for this
        operation; returns the parsed JSON body, the PNG bytes, or the text."""
        operation = self.document["paths"][path][method]
        status = str(response.status_code)
        assert status in operation["responses"], f"{method.upper()} {path} answered {status}, not documented"
        documented = self._component(operation["responses"][status], "responses")
        for name, header in documented.get("headers", {}).items():
            header = self._component(header, "headers")
            if header.get("required"):
                assert name.lower() in response.headers, f"{status} lacks the {name} header"
                self.check(header["schema"], response.headers[name])
        content = documented.get("content", {})
        media = response.headers.get("content-type", "").split(";")[0]
        assert media in content, f"{method.upper()} {path} {status}: {media} not documented"
        schema = content[media]["schema"]
        if media.endswith("json"):
            body = response.json()
            self.check(schema, body)
            return body
        if media == "image/png":
            assert response.content.startswith(b"\x89PNG")
            return response.content
        self.check(schema, response.text)
        return response.text

    def request_conforms(self, body: Any, path: str, method: str, media: str = "application/json") -> None:
        """A request body the tests send as valid is one the document describes."""
        self.check(self.document["paths"][path][method]["requestBody"]["content"][media]["schema"], body)

    def documented_operations(self) -> set[tuple[str, str]]:
        """Every (path, method) the document describes."""
        return {(path, method) for path, item in self.document["paths"].items() for method in item}

    def check_coherent(self) -> None:
        """Every reference resolves, every component schema is a valid schema, operation ids
        are unique and each path's parameters are the ones its template names."""
        resolver = self.registry.resolver(self.uri)
        for reference in set(_references(self.document)):
            resolver.lookup(reference)  # raises if a reference leads nowhere
        for schema in self.document["components"]["schemas"].values():
            Draft202012Validator.check_schema(schema)
        ids = [op["operationId"] for item in self.document["paths"].values() for op in item.values()]
        assert len(ids) == len(set(ids))
        for path, item in self.document["paths"].items():
            for method, operation in item.items():
                declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
                assert declared == set(re.findall(r"{(\w+)}", path)), (path, method)
                assert operation["responses"], (path, method)


def served_operations(routes: Sequence[BaseRoute]) -> set[tuple[str, str]]:
    """Every (path, method) a Starlette app's routes serve, its path converters written the
    OpenAPI way (``{tid:str}`` as ``{tid}``); HEAD is implied by GET."""
    served: set[tuple[str, str]] = set()
    for route in routes:
        assert isinstance(route, Route), route
        path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
        served |= {(path, m.lower()) for m in route.methods or () if m != "HEAD"}
    return served


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)
