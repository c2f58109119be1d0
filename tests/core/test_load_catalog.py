"""load_catalog checks a catalogue against ECS's allowed event.category values and the event.type
values ECS expects with each: a third party's catalogue is refused with its file, line and what ECS
allows, as the built-in catalogues are held to it by their tests (every one of them loads)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipper.api import CatalogError, Classification, load_catalog

REPO = Path(__file__).resolve().parents[2]


def _csv(tmp_path: Path, *rows: str) -> Path:
    p = tmp_path / "actions.csv"
    p.write_text("# an action catalogue\naction,category,type,outcome\n" + "".join(r + "\n" for r in rows))
    return p


def test_valid_rows_are_read_multi_valued_and_case_blind(tmp_path):
    cat = load_catalog(_csv(tmp_path, "Login,authentication,start,", "user.create,iam,user|creation,success",
                            "# a comment between rows", "net.allow,network|intrusion_detection,allowed|info,"),
                       ("action",))
    assert cat == {("login",): Classification(("authentication",), ("start",)),
                   ("user.create",): Classification(("iam",), ("user", "creation"), "success"),
                   ("net.allow",): Classification(("network", "intrusion_detection"), ("allowed", "info"))}


@pytest.mark.parametrize("row,line_no,said", [
    ("badge.in,authentication,allowed,", 3, "type 'allowed' is not expected with category 'authentication' "
                                           "(ECS 9.4.0 expects: end, info, start)"),
    ("secret.read,iam|configuration,access,", 3, "type 'access' is not expected with category 'iam'"),
    ("door.open,physical_access,start,", 3, "category 'physical_access' is not an ECS 9.4.0 event.category (one of: api, "),
    ("door.open,authentication,,", 3, "category and type go together"),
])
def test_a_row_ecs_does_not_allow_is_refused_with_its_line(tmp_path, row, line_no, said):
    path = _csv(tmp_path, row)
    with pytest.raises(CatalogError) as refused:
        load_catalog(path, ("action",))
    assert str(refused.value).startswith(f"{path}:{line_no}: {said}"), str(refused.value)


def test_the_line_named_is_the_files_own_counting_comments(tmp_path):
    path = _csv(tmp_path, "login,authentication,start,", "# skipped", "# skipped", "logout,authentication,denied,")
    with pytest.raises(CatalogError, match=rf"^{re.escape(str(path))}:6: type 'denied'"):
        load_catalog(path, ("action",))


def test_a_missing_column_is_named(tmp_path):
    path = tmp_path / "actions.csv"
    path.write_text("action,category\nlogin,authentication\n")
    with pytest.raises(CatalogError, match=r"actions.csv:2: needs the columns action, category, type"):
        load_catalog(path, ("action",))


def test_the_guides_example_catalogue_loads(tmp_path):
    guide = (REPO / "docs" / "writing-plugins.md").read_text()
    block = guide.split("# actions.csv: shipped as package data (see A package)\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "actions.csv"
    path.write_text("\n".join(line.strip() for line in block.splitlines()) + "\n")
    assert len(load_catalog(path, ("action",))) == 3
