"""The local stack once per session, and a cuttable S3 link.

The stack is `modelops.localstack`, the same code `python -m modelops.localstack` runs:
a throwaway PostgreSQL cluster, `mlflow server --app-name basic-auth` on it with the
users `modelops-pr` and `modelops-deploy`, and a moto S3 server. `stack.env(prefix,
role=...)` gives the variables a job of that role runs with.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# Shared helpers: the toy project (tests/unit) and the TCP link (here).
sys.path[:0] = [str(HERE.parent / "unit"), str(HERE)]

from netlink import Link  # noqa: E402

from modelops.localstack import Stack, start_stack  # noqa: E402


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """PostgreSQL, an MLflow server with basic auth, and moto S3; stopped after the session."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


@pytest.fixture
def s3_link(stack: Stack) -> Iterator[Link]:
    """A forwarder in front of the session's moto server, for one test."""
    link = Link(int(stack.s3_url.rsplit(":", 1)[1]))
    yield link
    link.cut()
