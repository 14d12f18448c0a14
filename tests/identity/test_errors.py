"""The error tree: every class has a stable problem type, and subclasses inherit sensibly."""

from __future__ import annotations

import inspect

import identity.errors as errors
from identity.errors import PROBLEM_TYPES, AkashiError, Revoked, SchemaViolation, problem_type


def all_error_classes() -> list[type[AkashiError]]:
    return [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, AkashiError)]


def test_every_error_class_has_its_own_problem_type() -> None:
    codes = [cls.code for cls in all_error_classes()]
    assert len(codes) == len(set(codes)), "two classes share a code"
    for code in codes:
        assert code in PROBLEM_TYPES, f"{code} has no problem type"
        assert PROBLEM_TYPES[code].uri.endswith("/" + code)


def test_problem_type_of_an_instance() -> None:
    assert problem_type(Revoked("credential revoked")).status == 422
    assert problem_type(SchemaViolation("x", schema="s", path="/a")).title == "Schema violation"
    assert problem_type(errors.NotFound("none")).status == 404
    assert str(Revoked("credential revoked")) == "credential revoked"
