"""Shared fixtures. The ECS definitions are Elastic's own, from ../shared/ecs/ (beside the repo)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipper.ecs_schema import EcsSchema

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHIPPER_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    assert SHARED.is_dir(), f"the project's shared/ folder is expected at {SHARED} (set SHIPPER_SHARED)"
    return SHARED


@pytest.fixture(scope="session")
def ecs(shared_dir) -> EcsSchema:
    return EcsSchema.load(shared_dir / "ecs" / "ecs_flat.yml")


@pytest.fixture(scope="session")
def assert_ecs(ecs):
    """assert_ecs(event, "datameer") fails with every problem of the event, the product namespace exempt."""

    def check(event: dict, *namespaces: str) -> None:
        problems = ecs.check(event, namespaces)
        assert not problems, "ECS problems:\n  " + "\n  ".join(problems) + f"\nin {event}"

    return check
