"""Hypothesis profiles for the fuzz suite.

* ``ci`` (the default): a few dozen examples per parser, so the README's test command runs it
  on every change in seconds;
* ``long``: ``HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest -m fuzz tests/fuzz`` (thousands of
  examples per parser; docs/security.md).

No deadline: the machine is shared and timing is not what these tests check; what they check is
that every input ends in a result or the parser's own clear error, never anything else.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fuzz/" in str(item.fspath):
            item.add_marker(pytest.mark.fuzz)
