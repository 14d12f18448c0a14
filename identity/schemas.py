r"""Validation of wire objects against the JSON Schemas (2020-12) in ``specs/``.

Each schema file is ``specs/<name>.schema.json`` and may ``$ref`` its siblings
by file name. A failure raises :class:`SchemaViolation` naming the schema, the
offending field as a JSON pointer and what was wrong with it.

Two preparations happen once per schema, when it is first used:

* References are inlined (non-recursive ones; a recursive reference stays a
  ``$ref``), because resolving a ``$ref`` on every validation made it several
  times slower — and the ledger validates every entry it receives.
* A pattern anchored with a final ``$`` is re-anchored with ``\Z``: the
  validator runs patterns with Python's ``re.search``, where ``$`` also matches
  before a trailing newline, so ``"^[0-9]{13}$"`` would accept ``"…\n"``.
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
def _document(file_name: str) -> dict[str, Any]:
    path = SPECS_DIR / file_name
    if not path.is_file():
        raise LookupError(f"no schema file {file_name!r} in {SPECS_DIR}")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _pointer(document: Any, fragment: str) -> Any:
    node = document
    for token in fragment.lstrip("/").split("/") if fragment else []:
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


#: Keywords whose value maps names to subschemas (names are not keywords).
_SCHEMA_MAPS = frozenset({"properties", "$defs", "patternProperties", "dependentSchemas"})


def _prepare(node: Any, file_name: str, active: tuple[str, ...]) -> Any:
    """``node`` with its references inlined and its ``$`` anchors made strict."""
    if isinstance(node, list):
        return [_prepare(item, file_name, active) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "pattern" and isinstance(value, str) and value.endswith("$") and not value.endswith("\\$"):
            out[key] = value[:-1] + "\\Z"
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _prepare(sub, file_name, active) for name, sub in value.items()}
        else:
            out[key] = _prepare(value, file_name, active)
    ref = out.get("$ref")
    if isinstance(ref, str) and not ref.startswith(("http:", "https:")):
        target_file, _, fragment = ref.partition("#")
        target_file = target_file or file_name
        label = f"{target_file}#{fragment}"
        if label in active:  # recursive: leave this one to the validator's registry
            return out
        target = _prepare(_pointer(_document(target_file), fragment), target_file, (*active, label))
        target = {k: v for k, v in target.items() if k not in {"$id", "$schema", "$defs"}}
        siblings = {k: v for k, v in out.items() if k != "$ref"}
        if not siblings:
            return target
        return {**siblings, "allOf": [*siblings.get("allOf", []), target]}
    return out


@cache
def _validator(name: str) -> Draft202012Validator:
    file_name = name + _SUFFIX
    if not (SPECS_DIR / file_name).is_file():
        raise LookupError(f"no schema named {name!r} in {SPECS_DIR}")
    original = _document(file_name)
    Draft202012Validator.check_schema(original)
    schema = _prepare(original, file_name, (file_name + "#",))
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
