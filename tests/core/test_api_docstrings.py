"""docs/writing-plugins.md promises: "Every name in `shipper.api` has a docstring with its exact
signature" (`help(shipper.api)`). Every function, class and module in `__all__` has a docstring of its
own (not a dataclass's generated `Name(field, ...)` line, not its base's), and so has every public
method a class of the contract defines. Constants (ECS_VERSION, the tags, WAIT_MAX, MISSING) are said
in the guide and in the module's comments beside `__all__`."""
from __future__ import annotations

import dataclasses
import inspect

import shipper.api as api


def _own_doc(obj: object) -> str | None:
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if inspect.isclass(obj) and doc and doc.startswith(f"{obj.__name__}("):  # a dataclass's generated line
        return None
    return doc.strip() if isinstance(doc, str) and doc.strip() else None


def _missing() -> list[str]:
    missing = []
    for name in api.__all__:
        obj = getattr(api, name)
        if not (inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # a constant
        if _own_doc(obj) is None:
            missing.append(name)
        if not inspect.isclass(obj) or not obj.__module__.startswith("shipper."):
            continue
        fields = {f.name for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else set()
        for attr, value in vars(obj).items():
            if attr.startswith("_") or attr in fields:
                continue
            fn = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
            if inspect.isfunction(fn) and not (fn.__doc__ or "").strip():
                missing.append(f"{name}.{attr}")
    return missing


def test_every_public_name_and_method_has_a_docstring():
    assert _missing() == []


def test_the_check_sees_a_missing_docstring(monkeypatch):
    def undocumented() -> None:
        pass

    monkeypatch.setattr(api, "undocumented", undocumented, raising=False)
    monkeypatch.setattr(api, "__all__", [*api.__all__, "undocumented"])
    assert _missing() == ["undocumented"]
