"""Every private name of the Pulumi Python SDK that the project uses, and only here.

Checked against pulumi 3.272.0 (the version in requirements.lock.txt). None of these is
public API (no package of the SDK lists it in its __all__), so an SDK upgrade may move
or change any of them. tests/unit/test_sdk_private.py resolves each name below in the
installed SDK (the one that moved fails by name), fails when the installed version is
not the one named above (re-check, then update it), and fails when any other file of
the project uses a private SDK name. The deploy path (__main__.py, components/) uses
public API only.

What the harness needs them for: running __main__.py under the mock monitor the way
pulumi.runtime.test does (run_pulumi_func, sync_await, a fresh rpc manager), recording
registrations (MockMonitor, deserialize_properties), and the wire format of a secret
({SIG_KEY: SECRET_SIG, "value": ...}, the engine's own constants: pulumi/pulumi
sdk/go/common/resource/sig/sig.go).
"""

from __future__ import annotations

from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import settings as _settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi.runtime.rpc import UNKNOWN as _UNKNOWN
from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key, deserialize_properties
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

__all__ = [
    "SECRET_SIG",
    "SIG_KEY",
    "UNKNOWN",
    "MockMonitor",
    "Unknown",
    "analyzer_pb2",
    "analyzer_pb2_grpc",
    "clear_root_resource",
    "clear_rpcs_and_outputs",
    "deserialize_properties",
    "run_pulumi_func",
    "sync_await",
]

# The marker of a secret value in serialized properties.
SECRET_SIG: str = _special_secret_sig  # "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY: str = _special_sig_key  # "4dabf18193072939515e22adb298388d"
# The wire value of an unknown output (the lab's `destroy --run-program` answers a
# resource not in the state with it, as the engine does).
UNKNOWN: str = _UNKNOWN

# Runs a coroutine to completion on the current event loop, from synchronous code.
sync_await = _sync_await


def clear_root_resource() -> None:
    """Forget the previous run's root stack resource (set_mocks then creates a new one)."""
    _settings.ROOT.set(None)


def clear_rpcs_and_outputs() -> None:
    """A clean slate of outstanding RPCs and outputs, as pulumi.runtime.test does."""
    sdk: Any = _settings.SETTINGS  # its attributes are context properties, opaque to pyright
    sdk.rpc_manager.clear()
    sdk.outputs.clear()


# Also here: MockMonitor (pulumi.runtime.mocks; set_mocks takes one, but the class is not
# exported), deserialize_properties (pulumi.runtime.rpc), run_pulumi_func
# (pulumi.runtime.stack), Unknown (pulumi.output: the class of a value unknown during
# preview; tests/policy) and the analyzer's gRPC stubs (pulumi.runtime.proto; tests/policy
# speaks the analyzer protocol to the policy pack).
