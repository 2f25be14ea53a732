"""The lifecycle is pure: importing it brings in no web framework, store, broker or settings.

Each module of `services/lifecycle/` is imported in a fresh interpreter, and the
modules loaded are checked; its own imports are read too, against the short list
of what the lifecycle may use (`services/lifecycle/__init__.py`).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LIFECYCLE = ROOT / "services" / "lifecycle"
MODULES = sorted(
    "services.lifecycle" + ("" if path.stem == "__init__" else f".{path.stem}")
    for path in LIFECYCLE.glob("*.py")
)
FORBIDDEN = ("fastapi", "starlette", "pymongo", "motor", "bson", "aiokafka", "faststream",
             "pydantic_settings", "prometheus_client")
ALLOWED = ("contracts", "pydantic", "services.lifecycle", "services.common.catalogue",
           "services.common.masking", "services.common.workdays")
"""What a lifecycle module may import besides the standard library."""


def loaded_by(module: str) -> list[str]:
    """The forbidden packages in `sys.modules` after importing `module` in a fresh process."""
    probe = (
        f"import importlib, json, sys; importlib.import_module({module!r}); "
        f"print(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}} & "
        f"set({list(FORBIDDEN)!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    return list(json.loads(done.stdout))


def not_allowed_imports(path: Path) -> set[str]:
    """What the module at `path` imports beyond the standard library and `ALLOWED`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names
            if name.split(".")[0] not in sys.stdlib_module_names
            and not any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED)}


def test_every_lifecycle_module_is_checked() -> None:
    assert "services.lifecycle.case" in MODULES and "services.lifecycle.returning" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_importing_a_lifecycle_module_loads_no_adapter(module: str) -> None:
    assert loaded_by(module) == [], f"{module} pulls in adapters; keep them at the edge"


def test_the_check_would_see_an_adapter() -> None:
    assert {"fastapi", "starlette"} <= set(loaded_by("services.common.auth"))


@pytest.mark.parametrize("path", sorted(LIFECYCLE.glob("*.py")), ids=lambda p: p.name)
def test_a_lifecycle_module_imports_only_the_contracts_the_city_and_the_standard_library(
    path: Path,
) -> None:
    assert not_allowed_imports(path) == set()


def test_the_import_list_would_see_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import hmac\nfrom pydantic import BaseModel\n"
                      "from services.common.catalogue import CityConfig\n"
                      "from services.routing.settings import RoutingSettings\n"
                      "from fastapi import HTTPException\n")
    assert not_allowed_imports(sample) == {"services.routing.settings", "fastapi"}
