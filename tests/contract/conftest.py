"""The ``pair`` fixture: every test here runs once per service in ``connectors.SERVICES``.

pytest puts this directory on ``sys.path`` (rootdir conftest, no ``__init__.py``), so the
adapters import as ``pairs``. A service registered without an adapter fails every test
of the suite with the reason, rather than silently getting no contract tests.
"""

from __future__ import annotations

import pytest
from pairs import Pair, pair_for

import connectors


@pytest.fixture(params=sorted(connectors.SERVICES))
def pair(request: pytest.FixtureRequest) -> Pair:
    try:
        adapter = pair_for(request.param)
    except LookupError as exc:
        pytest.fail(str(exc))
    yield adapter
    adapter.close()
