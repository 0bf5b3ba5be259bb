"""DESIGN.md's layering, enforced kopf-style: an AST scan of every import."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "mappings": {"httpx", "prefect", "sqlite_utils", "sqlite3", "connectors", "state", "flows", "respx"},
    "connectors": {"prefect", "sqlite_utils", "sqlite3", "state", "flows", "config"},
    "state": {"httpx", "prefect", "connectors", "flows", "respx"},
    "config": {"httpx", "prefect", "sqlite_utils", "connectors", "state", "flows", "mappings"},
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_layers(package):
    bad = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        wrong = imports(path) & FORBIDDEN[package]
        if wrong:
            bad[str(path.relative_to(ROOT))] = sorted(wrong)
    assert bad == {}


def test_only_flows_import_prefect():
    users = {str(p.relative_to(ROOT)) for pkg in ("connectors", "mappings", "state", "config")
             for p in (ROOT / pkg).rglob("*.py") if "prefect" in imports(p)}
    assert users == set()


@pytest.mark.parametrize("package", ["connectors", "mappings.models", "state", "config.tenant", "mappings.policy"])
def test_public_names_are_exported(package):
    import importlib

    module = importlib.import_module(package)
    assert hasattr(module, "__all__")
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
