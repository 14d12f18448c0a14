"""Validation of wire objects against the JSON Schemas (2020-12) in ``specs/``.

Each schema file is ``specs/<name>.schema.json`` and may ``$ref`` its siblings
by file name. A failure raises :class:`SchemaViolation` naming the schema, the
offending field as a JSON pointer and what was wrong with it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from identity.errors import SchemaViolation

__all__ = ["SPECS_DIR", "schema_names", "validate"]

#: The folder holding the schemas: ``specs/`` at the top of the source tree.
SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
_SUFFIX = ".schema.json"


def schema_names() -> list[str]:
    """Names of every schema in ``specs/`` (file names without ``.schema.json``)."""
    return sorted(p.name[: -len(_SUFFIX)] for p in SPECS_DIR.glob("*" + _SUFFIX))


@cache
def _registry() -> Registry:
    resources = []
    for path in sorted(SPECS_DIR.glob("*" + _SUFFIX)):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        resources.append((path.name, resource))
        if "$id" in contents:
            resources.append((contents["$id"], resource))
    return Registry().with_resources(resources)


@cache
def _validator(name: str) -> Draft202012Validator:
    path = SPECS_DIR / (name + _SUFFIX)
    if not path.is_file():
        raise LookupError(f"no schema named {name!r} in {SPECS_DIR}")
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(
        schema,
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def validate(instance: Any, name: str) -> None:
    """Return if ``instance`` satisfies schema ``name``; raise :class:`SchemaViolation` otherwise."""
    validator = _validator(name)
    if validator.is_valid(instance):  # the common case, without collecting errors
        return
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is None:
        return
    pointer = "/" + "/".join(str(part) for part in error.absolute_path)
    field = pointer if pointer != "/" else "the top level"
    raise SchemaViolation(
        f"{name}: {field}: {error.message}", schema=name, path=pointer
    )
