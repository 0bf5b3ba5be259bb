import ast
import inspect
from pathlib import Path

import state

STATE_DIR = Path(state.__file__).parent
ALLOWED_ROOTS = {"state", "mappings", "sqlite_utils", "pydantic", "__future__"}
STDLIB = {"collections", "contextlib", "datetime", "gc", "hashlib", "json", "os", "pathlib", "secrets",
          "sqlite3", "typing"}


def test_all_lists_exactly_the_public_callables():
    public = {n for n, v in vars(state).items() if not n.startswith("_") and (callable(v))}
    assert sorted(state.__all__) == sorted(public)
    for name in state.__all__:
        assert inspect.getdoc(getattr(state, name)), name


def test_state_imports_only_mappings_sqlite_utils_and_stdlib():
    for path in STATE_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= ALLOWED_ROOTS | STDLIB, (path.name, roots)

