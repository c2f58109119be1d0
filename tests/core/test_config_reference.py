"""The README's config reference is the one scripts/config_reference.py renders from the config
models: every key of every installed source and output, with its type, default and limits."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from shipper import registry

REPO = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("config_reference", REPO / "scripts" / "config_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_reference_is_current():
    ref = _script()
    readme = (REPO / "README.md").read_text()
    assert ref.replace_in(readme, ref.render()) == readme, (
        "README.md's config reference is out of date: run `python scripts/config_reference.py --write`")


def test_reference_names_every_key():
    block = _script().render()
    for kind in ("source", "output"):
        for name in [p.name for p in registry.info(kind) if p.distribution == "shipper"]:  # not the example's
            assert f"`type: {name}` ({kind}):" in block
            for key in registry.load(kind, name).Config.model_fields:
                assert f"| `{key}` |" in block, (kind, name, key)
    # The keys the issue found missing, with the api_key form that avoids a 401 loop.
    for key in ("api_key_env", "request_timeout", "backoff_base", "backoff_max", "max_in_flight_batches",
                "max_in_flight_bytes"):
        assert f"| `{key}` |" in block
    assert '| `api_key_file` | text \\| null | — | the base64 "id:key" form' in block
