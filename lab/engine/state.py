"""The checkpoint: what the last deployment left, by URN.

As Pulumi's checkpoint (pulumi/pulumi 3.272 `sdk/go/common/apitype/core.go`,
ResourceV3): per resource its type, id, the inputs as they were sent to the
provider, the outputs, the dependencies (resource, property, parent, provider),
delete-before-replace and custom timeouts. A replaced resource whose delete has not
happened yet stays in the checkpoint marked `delete` (ResourceV3.Delete), so the
next run deletes it.

Secret values are kept as Pulumi keeps them (`{"4dabf18193072939515e22adb298388d":
"1b47061264138c4ac30d75fd1eb44270", "ciphertext": ...}`), sealed with AES-GCM under
a key in a 0600 file beside the state (as the passphrase secrets provider does).

`config` holds the values given with `up --set K=V`: `pulumi up --config K=V` saves
them to the stack's config, so later runs see them too.

The state directory is passed in: nothing here reads a global.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from harness.run import SECRET_SIG, SIG_KEY, is_secret, secret, unwrap

STATE_FILE = "stack.json"
KEY_FILE = "secrets.key"


class Vault:
    """Encrypts secret values for the state file (the key never leaves the state dir)."""

    def __init__(self, key_file: Path) -> None:
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, AESGCM.generate_key(bit_length=256))
            os.close(fd)
        self.aead = AESGCM(key_file.read_bytes())

    def seal(self, value: Any) -> dict[str, str]:
        nonce = os.urandom(12)
        blob = self.aead.encrypt(nonce, json.dumps(value).encode(), None)
        return {SIG_KEY: SECRET_SIG, "ciphertext": base64.b64encode(nonce + blob).decode()}

    def open(self, sealed: dict[str, str]) -> Any:
        raw = base64.b64decode(sealed["ciphertext"])
        return json.loads(self.aead.decrypt(raw[:12], raw[12:], None))

    def seal_tree(self, value: Any) -> Any:
        """VALUE with every secret (SDK wrapper) replaced by its ciphertext."""
        if is_secret(value):
            return self.seal(unwrap(value))
        if isinstance(value, dict):
            return {k: self.seal_tree(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.seal_tree(v) for v in value]
        return value

    def open_tree(self, value: Any) -> Any:
        """The inverse of seal_tree: secrets come back wrapped (secret(...))."""
        if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG and "ciphertext" in value:
            return secret(self.open(value))
        if isinstance(value, dict):
            return {k: self.open_tree(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.open_tree(v) for v in value]
        return value


@dataclass
class Resource:
    """One resource of the checkpoint. inputs/outputs are kept sealed (see Vault)."""

    urn: str
    type: str
    name: str
    id: str = ""
    custom: bool = True
    parent: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str = ""  # "<provider urn>::<provider id>"
    delete_before_replace: bool = False
    deleted_with: str = ""  # ResourceV3.DeletedWith
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    additional_secret_outputs: list[str] = field(default_factory=list)
    delete: bool = False  # replaced; to be deleted (ResourceV3.Delete)
    lab: dict[str, Any] = field(default_factory=dict)  # the lab's own notes (the host of an instance)

    def all_dependencies(self) -> set[str]:
        """Everything this resource needs to exist while it exists (the engine's
        dependency graph: `pkg/resource/graph/dependency_graph.go`: parent, provider,
        dependencies, property dependencies)."""
        deps = set(self.dependencies) | {u for us in self.property_dependencies.values() for u in us}
        if self.parent:
            deps.add(self.parent)
        if self.provider:
            deps.add(self.provider.rsplit("::", 1)[0])
        deps.discard(self.urn)
        return deps

    def to_json(self) -> dict[str, Any]:
        # A shallow dict: json.dumps copies nothing, and asdict's deep copy of every
        # resource on every save made saving quadratic in time.
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Resource:
        return cls(**data)


class State:
    """The checkpoint of one stack, saved after every change (as the engine's snapshot
    manager persists each step)."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.path = state_dir / STATE_FILE
        state_dir.mkdir(parents=True, exist_ok=True)
        self.vault = Vault(state_dir / KEY_FILE)
        self.lock = threading.RLock()
        self.resources: dict[str, Resource] = {}
        self.pending_deletes: list[Resource] = []
        self.config: dict[str, Any] = {}  # `--set` values: strings; lists from `config set --path`
        self.exports: dict[str, Any] = {}  # the stack's outputs of the last successful up (sealed)
        self._encoded: dict[int, tuple[Resource, bool, bytes]] = {}  # id(resource) -> save's encoding
        if self.path.exists():
            data = json.loads(self.path.read_text())
            for raw in data.get("resources", []):
                r = Resource.from_json(raw)
                if r.delete:
                    self.pending_deletes.append(r)
                else:
                    self.resources[r.urn] = r
            self.config = dict(data.get("config", {}))
            self.exports = dict(data.get("exports", {}))

    # --- persistence ---------------------------------------------------------
    def save(self) -> None:
        """The whole checkpoint, written after every change. Each resource is encoded
        once: the file grows with every step (the commands' scripts are most of it), and
        encoding it all again on each save made a run's saves quadratic in its steps. The
        text is what json.dumps(data, sort_keys=True) gives (tests/unit/test_lab_state.py)."""
        with self.lock:
            live = [*self.resources.values(), *self.pending_deletes]
            self._encoded = {id(r): self._encoding(r) for r in live}
            head = json.dumps({"config": self.config, "exports": self.exports}, sort_keys=True).encode()
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("wb") as f:  # piece by piece: the file is megabytes, joining it copies it
                f.write(head[:-1] + b', "resources": [')
                for i, r in enumerate(live):
                    if i:
                        f.write(b", ")
                    f.write(self._encoded[id(r)][2])
                f.write(b"]}")
            tmp.replace(self.path)

    def _encoding(self, r: Resource) -> tuple[Resource, bool, bytes]:
        """(R, its delete flag, its JSON text, UTF-8). A recorded resource changes only
        by mark_replaced's delete flag, so the text is kept while both are the same."""
        hit = self._encoded.get(id(r))
        if hit is not None and hit[0] is r and hit[1] == r.delete:
            return hit
        # No indent: with one, json falls back from its C encoder to the Python one.
        return r, r.delete, json.dumps(r.to_json(), sort_keys=True).encode()

    # --- resources -----------------------------------------------------------
    def record(self, res: Resource) -> None:
        """Keep RES (inputs and outputs as the SDK gave them: sealed here)."""
        res.inputs = self.vault.seal_tree(res.inputs)
        res.outputs = self.vault.seal_tree(res.outputs)
        with self.lock:
            self.resources[res.urn] = res
            self.save()

    def mark_replaced(self, urn: str) -> Resource | None:
        """The live resource URN is being replaced: it stays, marked for deletion."""
        with self.lock:
            old = self.resources.pop(urn, None)
            if old is not None:
                old.delete = True
                self.pending_deletes.append(old)
                self.save()
            return old

    def forget(self, res: Resource) -> None:
        """RES was deleted."""
        with self.lock:
            if res.delete:
                self.pending_deletes = [r for r in self.pending_deletes if r is not res]
            elif self.resources.get(res.urn) is res:
                del self.resources[res.urn]
            self.save()

    def inputs_of(self, res: Resource) -> dict[str, Any]:
        return self.vault.open_tree(res.inputs)

    def outputs_of(self, urn_or_res: str | Resource) -> dict[str, Any]:
        res = self.resources[urn_or_res] if isinstance(urn_or_res, str) else urn_or_res
        return self.vault.open_tree(res.outputs)

    @property
    def hosts(self) -> dict[str, int]:
        """Instance name -> lab host number, for the live instances."""
        return {r.name: r.lab["host"] for r in self.resources.values() if "host" in r.lab}

    def by_name(self, name: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.name == name]


def LabState(path: Path) -> State:  # noqa: N802 - the name the tests and summary used
    """The state whose file is PATH (…/stack.json)."""
    return State(path.parent)
