"""The lab engine's model of step generation and execution (lab/engine/plan.py, apply.py)
against a fake provider: no root, no hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.engine import plan, resolve_replace
from lab.engine.apply import Deployment, Halted
from lab.engine.state import Resource, State
from tests.unit.lab_fakes import FakeProvider, events, reg, urn

T = "test:index:Thing"


def deploy(tmp: Path, prov: FakeProvider, **kw: object) -> Deployment:
    return Deployment(State(tmp), {T: prov}, events(tmp), **kw)  # type: ignore[arg-type]


def run(tmp: Path, prov: FakeProvider, regs: list, **kw: object) -> Deployment:
    d = deploy(tmp, prov, **kw)
    for r in regs:
        d.register(r)
    d.finish()
    return d


def test_duplicate_urn_is_an_error(tmp_path: Path) -> None:
    d = deploy(tmp_path, FakeProvider([]))
    d.register(reg("a"))
    with pytest.raises(plan.DuplicateURN, match=r"Duplicate resource URN '.*::a'; try giving it a unique name"):
        d.register(reg("a"))
    with pytest.raises(Halted):  # the deployment stopped
        d.register(reg("b"))


def test_unchanged_is_same_changed_is_update(tmp_path: Path) -> None:
    log: list = []
    run(tmp_path, FakeProvider(log), [reg("a", {"x": 1})])
    d = run(tmp_path, FakeProvider(log), [reg("a", {"x": 1})])
    assert d.stats.ops == {"same": 1} and [c[0] for c in log] == ["create"]
    d = run(tmp_path, FakeProvider(log), [reg("a", {"x": 2})])
    assert d.stats.ops == {"update": 1} and log[-1][:2] == ("update", "a")


def test_ignore_changes_sends_the_old_value(tmp_path: Path) -> None:
    log: list = []
    run(tmp_path, FakeProvider(log), [reg("j", {"stdin": "token-1", "create": "join"})])
    d = run(tmp_path, FakeProvider(log), [reg("j", {"stdin": "token-2", "create": "join"}, ignore=["stdin"])])
    assert d.stats.ops == {"same": 1}
    d = run(tmp_path, FakeProvider(log), [reg("j", {"stdin": "token-3", "create": "join v2"}, ignore=["stdin"])])
    assert log[-1] == ("update", "j", {"stdin": "token-1", "create": "join v2"})
    assert State(tmp_path).inputs_of(State(tmp_path).resources[urn("j")])["stdin"] == "token-1"


def test_ignore_changes_path_reset_and_removal() -> None:
    news = {"a": {"b": 2, "c": 3}, "d": 1}
    assert plan.process_ignore_changes(news, {"a": {"b": 1}}, ["a.b", "a.c", "d"]) == {"a": {"b": 1}}


def test_replace_creates_first_and_deletes_the_old_at_the_end(tmp_path: Path) -> None:
    log: list = []
    run(tmp_path, FakeProvider(log), [reg("a", {"triggers": [1]}), reg("b", {"x": 1})])
    log.clear()
    d = run(tmp_path, FakeProvider(log, replace_on=("triggers",)), [reg("a", {"triggers": [2]}), reg("b", {"x": 2})])
    assert [(op, n) for op, n, _ in log] == [("create", "a"), ("update", "b"), ("delete", "a")]
    assert d.stats.ops == {"replace": 1, "update": 1, "delete": 1}
    s = State(tmp_path)
    assert s.pending_deletes == [] and s.resources[urn("a")].inputs == {"triggers": [2]}


def test_replacement_takes_the_new_value_of_an_ignored_input(tmp_path: Path) -> None:
    log: list = []
    run(tmp_path, FakeProvider(log), [reg("a", {"triggers": [1], "stdin": "old"})])
    run(tmp_path, FakeProvider(log, replace_on=("triggers",)),
        [reg("a", {"triggers": [2], "stdin": "new"}, ignore=["stdin"])])  # fmt: skip
    assert log[1] == ("create", "a", {"triggers": [2], "stdin": "new"})


def test_forced_replace_by_urn(tmp_path: Path) -> None:
    log: list = []
    run(tmp_path, FakeProvider(log), [reg("a", {"x": 1})])
    d = run(tmp_path, FakeProvider(log), [reg("a", {"x": 1})], replace={urn("a")})
    assert d.stats.ops == {"replace": 1, "delete": 1}


def test_delete_before_replace_takes_its_dependents(tmp_path: Path) -> None:
    log: list = []
    net, svc, other = reg("net", {"name": "n"}), reg("svc", {"net": "id"}, prop_deps={"net": ["net"]}), reg("o")
    run(tmp_path, FakeProvider(log), [net, svc, other])
    log.clear()
    prov = FakeProvider(log, replace_on=("name", "net"))
    d = deploy(tmp_path, prov)
    d.register(reg("net", {"name": "n2"}, dbr=True))
    # the dependent went first, then the network, then the new network
    assert [(op, n) for op, n, _ in log] == [("delete", "svc"), ("delete", "net"), ("create", "net")]
    d.register(reg("svc", {"net": "id"}, prop_deps={"net": ["net"]}))  # created again
    d.register(reg("o"))
    d.finish()
    assert [(op, n) for op, n, _ in log][3:] == [("create", "svc")]


def test_dependents_through_depends_on_only_are_not_replaced(tmp_path: Path) -> None:
    log: list = []
    run(tmp_path, FakeProvider(log), [reg("net", {"name": "n"}), reg("svc", {"x": 1}, deps=["net"])])
    log.clear()
    d = deploy(tmp_path, FakeProvider(log, replace_on=("name",)))
    d.register(reg("net", {"name": "n2"}, dbr=True))
    assert [(op, n) for op, n, _ in log] == [("delete", "net"), ("create", "net")]


def test_deletes_dependents_first_and_independents_in_parallel(tmp_path: Path) -> None:
    log: list = []
    regs = [reg("base"), reg("mid1", deps=["base"]), reg("mid2", deps=["base"]), reg("top", deps=["mid1", "mid2"])]
    run(tmp_path, FakeProvider(log), regs)
    log.clear()
    prov = FakeProvider(log, slow=0.05)
    run(tmp_path, prov, [])
    names = [n for op, n, _ in log]
    assert names[0] == "top" and set(names[1:3]) == {"mid1", "mid2"} and names[3] == "base"
    assert prov.max_active == 2  # mid1 and mid2 together
    waves = plan.delete_waves(list(State(tmp_path).resources.values()) or [])
    assert waves == []


def test_deleted_with_skips_the_delete_only_when_its_target_goes_too(tmp_path: Path) -> None:
    """pulumi/pulumi v3.259.0 step.go DeleteStep.Apply, isDeletedWith: no provider Delete
    for a resource whose DeletedWith is deleted in the same run; deleted on its own
    (a removal, a replacement) it is deleted as usual."""
    log: list = []
    regs = [reg("vpc"), reg("drain", {"n": 1}, deleted_with="vpc"), reg("other", {"n": 1}, deleted_with="vpc")]
    run(tmp_path, FakeProvider(log), regs)
    log.clear()
    run(tmp_path, FakeProvider(log), [reg("vpc"), reg("other", {"n": 1}, deleted_with="vpc")])
    assert [(op, n) for op, n, _ in log] == [("delete", "drain")]
    log.clear()
    run(tmp_path, FakeProvider(log), [])  # the destroy: vpc goes, so other's delete is skipped
    assert [(op, n) for op, n, _ in log] == [("delete", "vpc")]
    assert not State(tmp_path).resources


def test_a_resource_is_replaced_with_its_deleted_with_target(tmp_path: Path) -> None:
    log: list = []
    run(tmp_path, FakeProvider(log), [reg("vpc", {"cidr": "a"}), reg("x", {"n": 1}, deleted_with="vpc")])
    log.clear()
    run(
        tmp_path,
        FakeProvider(log, replace_on=("cidr",)),
        [reg("vpc", {"cidr": "b"}), reg("x", {"n": 1}, deleted_with="vpc")],
    )
    assert [(op, n) for op, n, _ in log][:2] == [("create", "vpc"), ("create", "x")]


def test_delete_waves() -> None:
    rs = [Resource(urn("a"), T, "a"), Resource(urn("b"), T, "b", dependencies=[urn("a")]),
          Resource(urn("c"), T, "c", dependencies=[urn("a")]), Resource(urn("d"), T, "d")]  # fmt: skip
    assert [[r.name for r in w] for w in plan.delete_waves(rs)] == [["b", "c", "d"], ["a"]]


def test_after_a_failure_no_new_step_starts_and_the_failed_create_is_not_recorded(tmp_path: Path) -> None:
    log: list = []
    run(tmp_path, FakeProvider(log), [reg("gone")])
    d = deploy(tmp_path, FakeProvider(log, fail={("create", "bad")}))
    d.register(reg("ok"))
    with pytest.raises(RuntimeError, match="create bad failed"):
        d.register(reg("bad"))
    with pytest.raises(Halted):
        d.register(reg("later"))
    with pytest.raises(RuntimeError, match="create bad failed"):
        d.finish()  # no deletes after a failure
    s = State(tmp_path)
    assert set(s.resources) == {urn("ok"), urn("gone")}  # bad not recorded, gone not deleted
    assert ("create", "later") not in [(op, n) for op, n, _ in log]


def test_a_failed_delete_stays_in_the_state(tmp_path: Path) -> None:
    log: list = []
    run(tmp_path, FakeProvider(log), [reg("a"), reg("b", deps=["a"]), reg("c")])
    with pytest.raises(RuntimeError, match="delete b failed"):
        run(tmp_path, FakeProvider(log, fail={("delete", "b")}), [])
    s = State(tmp_path)
    assert set(s.resources) == {urn("a"), urn("b")}  # c went (same wave), a never started
    run(tmp_path, FakeProvider(log), [])
    assert State(tmp_path).resources == {}


def test_a_failed_replacement_delete_is_retried_next_run(tmp_path: Path) -> None:
    log: list = []
    run(tmp_path, FakeProvider(log), [reg("a", {"t": 1})])
    with pytest.raises(RuntimeError):
        run(tmp_path, FakeProvider(log, replace_on=("t",), fail={("delete", "a")}), [reg("a", {"t": 2})])
    s = State(tmp_path)
    assert [r.delete for r in s.pending_deletes] == [True] and s.resources[urn("a")].inputs == {"t": 2}
    log.clear()
    run(tmp_path, FakeProvider(log), [reg("a", {"t": 2})])
    assert [(op, n) for op, n, _ in log] == [("delete", "a")] and State(tmp_path).pending_deletes == []


def test_set_values_are_saved_in_the_state(tmp_path: Path) -> None:
    s = State(tmp_path)
    s.config.update({"workerCount": "1"})
    s.save()
    assert State(tmp_path).config == {"workerCount": "1"}
    assert not (tmp_path / "Pulumi.lab.yaml").exists()


def test_replace_by_urn_glob_and_node_name(tmp_path: Path) -> None:
    s = State(tmp_path)
    inst = urn("swarm-worker-2", "aws:ec2/instance:Instance")
    s.record(Resource(inst, "aws:ec2/instance:Instance", "swarm-worker-2", lab={"host": 3}))
    s.record(Resource(urn("x"), T, "x"))
    assert resolve_replace(["swarm-worker-2"], s) == {inst}
    assert resolve_replace([inst], s) == {inst}
    assert resolve_replace(["urn:pulumi:lab::docker-swarm::aws:ec2/instance:Instance::*"], s) == {inst}
    with pytest.raises(RuntimeError, match="Target 'swarm-worker-9' could not be found in the stack"):
        resolve_replace(["swarm-worker-9"], s)


def test_secrets_are_sealed_in_the_state_file(tmp_path: Path) -> None:
    from harness.run import secret

    s = State(tmp_path)
    s.record(Resource(urn("k"), T, "k", inputs={"stdin": secret("SWMTKN-1-abc")}, outputs={"o": secret("PRIVATE KEY")}))
    text = (tmp_path / "stack.json").read_text()
    assert "SWMTKN" not in text and "PRIVATE" not in text
    assert State(tmp_path).outputs_of(urn("k"))["o"]["value"] == "PRIVATE KEY"


def test_a_changed_provider_configuration_updates_the_provider_and_replaces_nothing(tmp_path: Path) -> None:
    """pulumi/pulumi (docs/upstream/engine.md section 6): a provider whose configuration
    changes is updated in place unless its DiffConfig asks for a replacement, and bridged
    providers do that only for ForcesProviderReplace fields (pulumi-docker flags none): so
    a new `host` or `sshOpts` replaces no Service or Network; their next operations use
    the new configuration."""
    from dataclasses import replace as with_

    log: list = []
    prov_type = "pulumi:providers:docker"

    def once(host: str) -> tuple[Deployment, dict]:
        d = Deployment(State(tmp_path), {T: FakeProvider(log)}, events(tmp_path))  # type: ignore[arg-type]
        p = reg("docker", {"host": host}, type_=prov_type)
        pid, _ = d.register(p)
        svc = with_(reg("svc", {"x": 1}), provider=f"{p.urn}::{pid}")
        d.register(svc)
        cfg = d.provider_config(svc.provider)
        d.finish()
        return d, cfg

    once("ssh://root@10.0.0.1")
    log.clear()
    d, cfg = once("ssh://root@10.0.0.2")
    assert d.stats.ops == {"update": 1, "same": 1}, d.stats.ops  # the provider updated; svc the same
    assert cfg == {"host": "ssh://root@10.0.0.2"} and log == []


def test_destroy_run_program_registrations_resolve_to_the_state(tmp_path: Path) -> None:
    """`pulumi destroy --run-program` (pkg/engine/destroy.go): the program runs; a resource
    in the state resolves to its stored outputs without a provider call (so the program's
    applies, e.g. writing the deployer's key, see real values); one not in the state
    resolves to unknowns; nothing is created."""
    from harness.sdk_private import UNKNOWN

    log: list = []
    run(tmp_path, FakeProvider(log), [reg("a", {"x": 1})])
    log.clear()
    d = deploy(tmp_path, FakeProvider(log))
    id_a, out_a = d.register_for_destroy(reg("a", {"x": 2}))
    assert id_a.startswith("id-a") and out_a["out"] == "x" and out_a["x"] == 1
    id_b, out_b = d.register_for_destroy(reg("b", {"y": 1}))
    assert id_b == "" and out_b["y"] == UNKNOWN
    assert log == []  # no create, no update


def test_two_runs_in_one_second_have_their_own_events() -> None:
    """A run's events are read back by its id: a test's fixture run and its own start
    within one second on a fast machine, and must not share one."""
    from lab.engine.events import Events

    assert Events(None, echo=False).run != Events(None, echo=False).run
