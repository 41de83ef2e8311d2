"""The lab's checkpoint file (lab/engine/state.py): written after every change, each
resource encoded once, and the same text as encoding the whole state anew."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.run import secret
from lab.engine.state import Resource, State


def res(name: str, **inputs: object) -> Resource:
    return Resource(urn=f"urn:pulumi:lab::p::t::{name}", type="t", name=name, id=f"id-{name}",
                    inputs=dict(inputs), outputs={"out": name, "key": secret(f"k-{name}")})  # fmt: skip


def full_text(state: State) -> str:
    """The file as one json.dumps of the whole state gives it."""
    return json.dumps({
        "config": state.config,
        "exports": state.exports,
        "resources": [r.to_json() for r in [*state.resources.values(), *state.pending_deletes]],
    }, sort_keys=True)  # fmt: skip


def test_every_save_writes_the_whole_state_as_encoded_anew(tmp_path: Path) -> None:
    s = State(tmp_path)
    s.config = {"workerCount": "2"}
    for i in range(3):
        s.record(res(f"r{i}", script="x" * 10, n=i))
        assert s.path.read_text() == full_text(s)
    old = s.mark_replaced(res("r1").urn)
    assert old is not None and old.delete
    assert s.path.read_text() == full_text(s)
    assert json.loads(s.path.read_text())["resources"][-1]["delete"] is True
    s.record(res("r1", script="new"))
    assert s.path.read_text() == full_text(s)
    s.forget(old)
    s.exports = {"a": 1}
    s.save()
    assert s.path.read_text() == full_text(s)
    again = State(tmp_path)  # and it reads back
    assert sorted(r.name for r in again.resources.values()) == ["r0", "r1", "r2"]
    assert again.inputs_of(again.resources[res("r1").urn]) == {"script": "new"}


def test_each_resource_is_encoded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Guard: encoding everything on each save is quadratic in the number of steps.
    calls: list[str] = []
    original = Resource.to_json

    def counted(self: Resource) -> dict:
        calls.append(self.name)
        return original(self)

    monkeypatch.setattr(Resource, "to_json", counted)
    s = State(tmp_path)
    for i in range(10):
        s.record(res(f"r{i}"))
    assert sorted(calls) == sorted(f"r{i}" for i in range(10))
    calls.clear()
    s.mark_replaced(res("r3").urn)  # the delete flag changes its text: encoded again
    assert calls == ["r3"]
