"""The pack as Pulumi runs it: `python policy/` serving the analyzer protocol.

PolicyPack() blocks, so it runs in a child process, as the Pulumi CLI would start it;
the test speaks the analyzer's gRPC protocol to it, then stops it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2

from harness.sdk_private import analyzer_pb2, analyzer_pb2_grpc
from policy.rules import INSTANCE, POLICIES

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "policy"
MANDATORY, ADVISORY = 1, 0  # proto EnforcementLevel values


def struct(props: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(props)
    return s


@pytest.fixture(scope="module")
def analyzer() -> Iterator[Any]:
    proc = subprocess.Popen(
        [sys.executable, str(PACK)], cwd=PACK, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()  # PolicyPack prints its port, then serves
        if not port.isdigit():
            proc.kill()
            pytest.fail(f"the pack did not start: {port!r} {proc.communicate(timeout=10)[1]}")
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_pack_serves_every_rule_with_its_level(analyzer: Any) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == "swarm-guardrails"
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert levels == {
        "no-world-open-swarm-ports": MANDATORY,
        "no-world-all-traffic-ingress": MANDATORY,
        "instance-imdsv2-required": MANDATORY,
        "instance-root-volume-encrypted": MANDATORY,
        "no-secrets-in-user-data": MANDATORY,
        "docker-provider-tls": MANDATORY,
        "odd-manager-count": MANDATORY,
        "security-group-rule-description": ADVISORY,
        "instance-cluster-tags": ADVISORY,
        "lb-internet-facing-has-security-group": MANDATORY,
        "lb-tls-listener-tls12": MANDATORY,
        "lb-target-group-health-check": MANDATORY,
        "private-instance-ssh-from-groups-only": MANDATORY,
    }
    assert all(len(p.description) > 60 for p in info.policies)


def test_pack_reports_a_violating_instance_and_passes_a_good_one(analyzer: Any) -> None:
    good = {
        "metadataOptions": {"httpTokens": "required"},
        "rootBlockDevice": {"encrypted": True},
        "tags": {"swarm-cluster": "c", "swarm-role": "manager"},
        "userData": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # unknown in preview: skipped
    }
    bad = {**good, "metadataOptions": {"httpTokens": "optional"}, "tags": {}}

    def analyze(props: dict[str, Any]) -> list[tuple[str, int]]:
        request = analyzer_pb2.AnalyzeRequest(
            type=INSTANCE, properties=struct(props), urn=f"urn:pulumi:dev::p::{INSTANCE}::n", name="n"
        )
        return sorted((d.policyName, d.enforcementLevel) for d in analyzer.Analyze(request, timeout=30).diagnostics)

    assert analyze(good) == []
    assert analyze(bad) == [("instance-cluster-tags", ADVISORY), ("instance-imdsv2-required", MANDATORY)]


def test_pack_runs_the_stack_rule(analyzer: Any) -> None:
    def instance(role: str) -> Any:
        props = struct({"tags": {"swarm-cluster": "c", "swarm-role": role}})
        return analyzer_pb2.AnalyzerResource(type=INSTANCE, properties=props, urn=f"urn:x::{role}", name=role)

    two = analyzer_pb2.AnalyzeStackRequest(resources=[instance("manager"), instance("manager")])
    assert [d.policyName for d in analyzer.AnalyzeStack(two, timeout=30).diagnostics] == ["odd-manager-count"]
    one = analyzer_pb2.AnalyzeStackRequest(resources=[instance("manager"), instance("worker")])
    assert list(analyzer.AnalyzeStack(one, timeout=30).diagnostics) == []


def test_pack_files() -> None:
    project = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python" and project["description"]
    # The ranges; requirements.txt is their lock (tests/unit/test_delivery.py).
    requirements = (PACK / "requirements.in").read_text()
    assert "pulumi-policy>=1.13,<2" in requirements and "pulumi>=3,<4" in requirements
    # The entry point only assembles the pack from rules.POLICIES.
    main = (PACK / "__main__.py").read_text()
    assert 'name="swarm-guardrails"' in main and "policies=POLICIES" in main
    assert len({p.name for p in POLICIES}) == len(POLICIES)
