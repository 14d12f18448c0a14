"""An OpenAPI document in specs/ as a test oracle: does an answer (or a request body the
tests send as valid) match what the document says for its operation?"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

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
