"""The dependency rule of ARCHITECTURE.md, read from the imports themselves (AST).

* ``identity`` imports nothing of ours but ``identity``.
* Only ``identity.crypto`` imports nacl or base58 (the hazmat layer).
* ``identity`` does no I/O: no network, database, subprocess or clock modules.
* Roles never import each other; they reach the registry only through
  ``registry.client``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"identity", "registry", "issuer", "holder_app", "verifier", "akashi_demo"}
ROLES = {"registry", "issuer", "holder_app", "verifier"}
IO_MODULES = {
    "socket",
    "sqlite3",
    "sqlite_utils",
    "httpx",
    "urllib",
    "http",
    "subprocess",
    "starlette",
    "uvicorn",
    "asyncio",
}


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_identity_imports_only_itself_and_allowed_libraries() -> None:
    problems = []
    for path in modules("identity"):
        for name in imports_of(path):
            top = name.split(".")[0]
            if top in OURS and top != "identity":
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
            if top in IO_MODULES:
                problems.append(f"{path.relative_to(ROOT)} does I/O through {name}")
    assert problems == []


def test_only_the_hazmat_layer_imports_nacl_and_base58() -> None:
    problems = []
    for path in modules("identity"):
        if path.parent.name == "crypto":
            continue
        for name in imports_of(path):
            if name.split(".")[0] in {"nacl", "base58"}:
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert problems == []


@pytest.mark.parametrize("role", sorted(ROLES))
def test_roles_do_not_import_each_other(role: str) -> None:
    problems = []
    for path in modules(role):
        for name in imports_of(path):
            top = name.split(".")[0]
            if (
                top in ROLES
                and top != role
                and not (top == "registry" and name.startswith("registry.client"))
            ):
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert problems == []


def test_identity_reads_no_clock_and_no_environment() -> None:
    problems = []
    for path in modules("identity"):
        text = path.read_text(encoding="utf-8")
        for forbidden in ("time.time(", "datetime.now(", "date.today(", "os.environ", "getenv("):
            if forbidden in text:
                problems.append(f"{path.relative_to(ROOT)} uses {forbidden}")
    assert problems == []


def test_test_files_have_unique_names() -> None:
    """Test folders have no __init__.py: two test files with one name cannot both be collected."""
    names = [path.name for path in (ROOT / "tests").rglob("test_*.py")]
    assert sorted(set(n for n in names if names.count(n) > 1)) == []
