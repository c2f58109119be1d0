"""Shared fixtures. The ECS definitions are Elastic's own (tests/data/ecs/, a subset of ecs_flat.yml 9.4)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from shipper.ecs_schema import EcsSchema

# Fixtures of the real servers, for every test module (one PostgreSQL for the session, one Azurite per module).
from tests.azurite import azurite  # noqa: F401
from tests.pg_cluster import pg_db, pg_server  # noqa: F401

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def ext4_tmp(tmp_path):
    """A folder on a small ext4 of its own (tests/fs_faults.ext4_folder): inode reuse as ext4 does it."""
    from tests.fs_faults import ext4_folder

    with ext4_folder(tmp_path) as folder:
        yield folder


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """tests/data: ECS definitions, the vendors' action lists, public samples (tests/data/README.md)."""
    return DATA


@pytest.fixture(scope="session")
def ecs() -> EcsSchema:
    return EcsSchema.load(DATA / "ecs" / "ecs_flat.subset.yml")


@pytest.fixture(scope="session")
def assert_ecs(ecs):
    """assert_ecs(event, "datameer") fails with every problem of the event, the product namespace exempt."""

    def check(event: dict, *namespaces: str) -> None:
        problems = ecs.check(event, namespaces)
        assert not problems, "ECS problems:\n  " + "\n  ".join(problems) + f"\nin {event}"

    return check


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow files first, then the rest; in each, the files of more tests first. `make test` hands whole files
    to its workers in this order (--dist loadfile --no-loadscope-reorder), so the long files start early, side by
    side, and the run ends on the many short files, which fill the workers evenly; otherwise it ended on
    single-test slow files, one worker alone, and then on tests/torture/test_torture.py (87 seeds, not marked
    slow, 80 s at load 24), the last file by name."""
    tests_in = Counter(item.path for item in items)
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None, -tests_in[item.path], str(item.path)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item):
    """A test that leaves a filesystem mounted in its tmp_path (a tmpfs, a loop ext4) errors, naming it, and the
    mount is taken down: each such test unmounts in a `finally` or a context manager (tests/fs_faults.py), also
    when it fails; one left behind outlived the run under /tmp/pytest-of-root."""
    folder = getattr(item, "funcargs", {}).get("tmp_path")
    try:
        result = yield
    finally:  # also when a fixture's teardown raised: its error is the one reported then
        left = mounts_under(folder) if folder is not None else []
        if left:
            from tests.fs_faults import unmount

            for point in sorted(left, reverse=True):  # the innermost first
                unmount(Path(point))
    if left:
        pytest.fail(f"{item.nodeid} left mounted: {', '.join(left)}")
    return result


def mounts_under(folder: Path) -> list[str]:
    """The mount points of this process's mount table at or below folder."""
    with open("/proc/self/mounts") as f:
        points = [line.split()[1].replace("\\040", " ") for line in f]
    return [p for p in points if p == str(folder) or p.startswith(f"{folder}/")]
