"""Private names of the Pulumi SDK live in harness/sdk_private.py only.

What counts as public: what a package of the `pulumi` SDK lists in its `__all__`
(`pulumi.__all__`, `pulumi.runtime.__all__`, ...), reached under that package or under
the module that defines it (`pulumi.runtime.mocks.Mocks` is `pulumi.runtime.Mocks`), and
the non-underscore attributes of such objects (`pulumi.Output.all`). Everything else is
private: an underscore name anywhere in the path (`_sync_await`, `rpc._special_sig_key`),
and a name that a `pulumi.*` module defines but no package exports
(`pulumi.runtime.config.CONFIG`, `pulumi.runtime.rpc.deserialize_properties`). For the
other `pulumi_*` packages (providers, policy SDK) only underscore names count.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "harness" / "sdk_private.py"
SKIP_DIRS = {".venv", "venv", ".git", "node_modules", "__pycache__", "golden"}
_MISSING = object()


def _is_dunder(seg: str) -> bool:
    return seg.startswith("__") and seg.endswith("__")


def _child(obj: Any, seg: str) -> Any:
    value = getattr(obj, seg, _MISSING)
    if value is _MISSING and inspect.ismodule(obj):
        try:
            value = importlib.import_module(f"{obj.__name__}.{seg}")
        except ImportError:
            value = _MISSING
    return value


def _exported(module: ModuleType, name: str, value: Any) -> bool:
    """NAME (VALUE, found in MODULE) is listed in the __all__ of MODULE or of a package
    above it that holds the same object under that name."""
    parts = module.__name__.split(".")
    for i in range(len(parts), 0, -1):
        pkg = importlib.import_module(".".join(parts[:i]))
        if name in getattr(pkg, "__all__", ()) and getattr(pkg, name, _MISSING) is value:
            return True
    return False


def is_private(path: str) -> bool:
    """Whether the dotted PATH (e.g. "pulumi.runtime.config.CONFIG.get") uses a private
    name of the installed SDK. A name that does not resolve counts as private."""
    segs = path.split(".")
    if any(s.startswith("_") and not _is_dunder(s) for s in segs):
        return True
    if segs[0] != "pulumi":
        return False
    obj: Any = importlib.import_module("pulumi")
    for seg in segs[1:]:
        if not inspect.ismodule(obj):
            return False  # an attribute of a public object: that object's own API
        value = _child(obj, seg)
        if value is _MISSING:
            return True
        if not inspect.ismodule(value) and not _exported(obj, seg, value):
            return True
        obj = value
    return False


def pulumi_paths(source: str) -> list[tuple[int, str]]:
    """(line, dotted path) of every name reached from a `pulumi*` import in SOURCE:
    the imports themselves, attribute chains on what they bind, getattr(x, "name")."""
    tree = ast.parse(source)
    alias: dict[str, str] = {}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0].startswith("pulumi"):
                    found.append((node.lineno, a.name))
                    alias[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("pulumi"):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                found.append((node.lineno, full))
                alias[a.asname or a.name] = full

    def dotted(node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return alias.get(node.id)
        if isinstance(node, ast.Attribute):
            base = dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (path := dotted(node)):
            found.append((node.lineno, path))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and (base := dotted(node.args[0]))
        ):
            found.append((node.lineno, f"{base}.{node.args[1].value}"))
    return found


def private_uses(source: str) -> list[str]:
    return sorted({f"{line}: {path}" for line, path in pulumi_paths(source) if is_private(path)})


def project_files() -> list[Path]:
    return sorted(
        p
        for p in ROOT.rglob("*.py")
        if not SKIP_DIRS & set(p.relative_to(ROOT).parts[:-1]) and p not in (ADAPTER, Path(__file__).resolve())
    )


# ---------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    "source",
    [
        "from pulumi.runtime.sync_await import _sync_await",
        "from pulumi.runtime import rpc\nrpc._special_sig_key",
        "from pulumi.runtime import config as rc\nrc.CONFIG.get()",
        "import pulumi.runtime.config\npulumi.runtime.config.CONFIG",
        "import pulumi\npulumi.runtime.rpc.deserialize_properties",
        "from pulumi.runtime import mocks\nmocks.MockMonitor",
        "from pulumi.runtime import settings\nsettings.SETTINGS.outputs.clear()",
        "from pulumi.output import Unknown",
        "from pulumi.runtime.proto import analyzer_pb2\nanalyzer_pb2.AnalyzeRequest",
        "import pulumi\ngetattr(pulumi.runtime.rpc, '_special_secret_sig')",
        "import pulumi_aws\npulumi_aws._utilities",
    ],
)
def test_checker_flags_private_names(source: str) -> None:
    assert private_uses(source)


@pytest.mark.parametrize(
    "source",
    [
        "import pulumi\npulumi.Config('x').get_object('k')\npulumi.Output.all(1).apply(str)",
        "import pulumi\npulumi.runtime.get_config_env()\npulumi.runtime.set_mocks",
        "from pulumi.runtime import mocks as pmocks\npmocks.Mocks\npmocks.MockResourceArgs",
        "from pulumi.runtime.mocks import MockResourceArgs",
        "from pulumi.runtime.config import set_all_config, get_config_env",
        "from pulumi.runtime import settings\nsettings.get_root_resource()",
        "import pulumi_aws as aws\naws.ec2.Instance",
        "from pulumi_policy import PolicyPack",
        "x = object()\nx._private",  # not the SDK's
    ],
)
def test_checker_passes_public_names(source: str) -> None:
    assert private_uses(source) == []


# ---------------------------------------------------------------- the project


def test_no_private_sdk_name_outside_the_adapter() -> None:
    files = project_files()
    assert ROOT / "components" / "settings.py" in files and ROOT / "harness" / "run.py" in files
    found = {str(p.relative_to(ROOT)): uses for p in files if (uses := private_uses(p.read_text(encoding="utf-8")))}
    assert not found, f"private Pulumi SDK names: move them to harness/sdk_private.py (or use public API): {found}"


def _adapter_paths() -> list[str]:
    if not ADAPTER.exists():
        return []  # test_the_adapter_names_the_sdk_it_was_checked_against fails
    return sorted({path for _, path in pulumi_paths(ADAPTER.read_text(encoding="utf-8"))})


@pytest.mark.parametrize("path", _adapter_paths())
def test_every_adapter_name_is_still_there(path: str) -> None:
    """Each name the adapter takes from the SDK, resolved in the installed SDK: after an
    upgrade, the one that moved fails here by name."""
    obj: Any = importlib.import_module(path.split(".")[0])
    for seg in path.split(".")[1:]:
        obj = _child(obj, seg)
        assert obj is not _MISSING, f"{path}: gone from pulumi {importlib.metadata.version('pulumi')}"


def test_the_adapter_names_the_sdk_it_was_checked_against() -> None:
    import harness.sdk_private as adapter

    paths = _adapter_paths()
    assert any(is_private(p) for p in paths)  # it holds private names, or it is not needed
    assert not [n for n in adapter.__all__ if not hasattr(adapter, n)]
    checked = re.search(r"[Cc]hecked against pulumi (\d+\.\d+\.\d+)", adapter.__doc__ or "")
    assert checked, "the adapter's docstring must name the SDK version it was checked against"
    installed = importlib.metadata.version("pulumi")
    assert checked.group(1) == installed, (
        f"pulumi is {installed}: re-check every name in harness/sdk_private.py against it, then update its docstring"
    )
