"""The bench's breakdowns are computed from recorded facts; here on made-up records."""

from __future__ import annotations

from bench.lab import breakdown, kind_of
from lab.vm import guest_timings


def _step(t: float, name: str, phase: str, seconds: float = 0.0, type_: str = "command:remote:Command") -> dict:
    return {"kind": "step", "t": t, "wall": 1000.0 + t, "name": name, "phase": phase, "type": type_,
            "seconds": seconds}  # fmt: skip


def test_kinds_follow_the_programs_resource_names() -> None:
    assert kind_of("swarm-worker-3", "aws:ec2/instance:Instance") == "instances"
    assert kind_of("boot-reach-worker-1", "command:local:Command") == "readiness gates"
    assert kind_of("boot-join-worker-8", "command:remote:Command") == "joins"
    assert kind_of("boot-label-manager-1", "command:remote:Command") == "labels"
    assert kind_of("app-endpoint-smoke", "command:local:Command") == "smoke test"
    assert kind_of("fw-ssh", "aws:ec2/securityGroup:SecurityGroup") == "other"


def test_breakdown_splits_make_lab_into_before_program_and_after() -> None:
    recs = [
        {"kind": "phase", "t": 0.0, "wall": 1000.0, "phase": "start"},
        _step(1.0, "boot-join-worker-1", "start"),
        _step(2.0, "boot-join-worker-2", "start"),
        _step(3.5, "boot-join-worker-1", "done", 2.5),
        _step(4.0, "boot-join-worker-2", "done", 2.0),
        {"kind": "phase", "t": 9.0, "wall": 1009.0, "phase": "done"},
    ]
    b = breakdown(recs, t0=990.0, t_end=1011.0)
    assert (b["total"], b["before program"], b["program"], b["after program"]) == (21.0, 10.0, 9.0, 2.0)
    assert b["kinds"]["joins"] == {"from": 1.0, "to": 4.0, "slowest": 2.5}
    assert b["joined"] == {"worker-1": 3.5, "worker-2": 4.0}


def test_guest_timings_reads_systemd_durations() -> None:
    assert guest_timings.seconds("1min 2.5s") == 62.5
    assert guest_timings.seconds("812ms") == 0.81
    assert guest_timings.seconds("3.1s") == 3.1


def test_runs_with_other_vm_knobs_are_listed_apart() -> None:
    """A run of the current recipe with a host.sh knob set (VMLAB_SMP=1) is not one of its
    own runs: the bench lists it as a variant, with its knobs."""
    from bench.__main__ import knobs_of, other_recipes

    plain = {"ok": True, "recipe": "r1", "total_s": 541.3, "when": "t1", "settings": {"VMLAB_SMP": "", "nice": 0}}
    smp1 = {"ok": True, "recipe": "r1", "total_s": 540.5, "when": "t2", "settings": {"VMLAB_SMP": "1", "nice": 0}}
    beside = {"ok": True, "recipe": "r1", "total_s": 838.1, "when": "t3", "settings": {"VMLAB_SMP": "", "nice": 19}}
    assert (knobs_of(plain), knobs_of(smp1), knobs_of(beside)) == ("", "VMLAB_SMP=1", "")
    (line,) = other_recipes([plain, smp1, beside], "r1")
    assert "this recipe, knobs" in line and "VMLAB_SMP=1" in line and "540.5" in line


def test_the_lab_suites_time_counts_only_whole_runs_and_keeps_beside_apart() -> None:
    from bench.__main__ import lab_suite_lines

    recs = [
        {"when": "t1", "seconds": 800.0, "tests": 24},
        {"when": "t2", "seconds": 27.7, "tests": 2},  # a run of two of its tests
        {"when": "t3", "seconds": 1013.0, "tests": 24, "beside_vm_lab": True},
        {"when": "t4", "seconds": 780.0, "tests": 24, "beside_vm_lab": False},
    ]
    alone, beside = lab_suite_lines(recs, 3)
    assert "790.00 (780.00-800.00)" in alone and "2 recorded green run(s) of all 24 tests, last t4" in alone
    assert "1013.00" in beside and "1 recorded" in beside and "27.7" not in alone + beside
    assert "no green run recorded" in lab_suite_lines([], 3)[0]


def test_lab_section_shows_each_pairs_ratio_and_the_machine_speed_before_each_run(monkeypatch) -> None:
    import bench.lab as lab

    totals = iter([12.0, 20.0, 13.0, 19.5, 10.0, 16.0])  # run order: 3, 9, 3, 9, 3, 9 nodes
    refs = iter([0.25, 0.26, 0.40, 0.41, 0.22, 0.23])

    def make_lab(n: int) -> dict:
        return {"total": next(totals), "before program": 1.0, "program": 2.0, "after program": 1.0,
                "kinds": {}, "joined": {"worker-1": 3.0}}  # fmt: skip

    monkeypatch.setattr(lab, "make_lab", make_lab)
    monkeypatch.setattr(lab, "lab_down", lambda: 1.0)
    monkeypatch.setattr(lab, "cpu_reference", lambda: next(refs))
    lines = lab.bench_lab(3)
    assert "    9/3 of each pair, in run order: 1.67 1.50 1.60" in lines
    assert "    CPU reference just before each run, s: 3 nodes 0.25 0.40 0.22; 9 nodes 0.26 0.41 0.23" in lines


def test_a_run_that_built_the_image_is_not_one_of_the_cached_image_runs(tmp_path, monkeypatch) -> None:
    """The VM lab's goal is for a cached image: the run that built it (~45 s more) is listed
    apart, never in the median."""
    import json

    import bench.__main__ as bench_main
    import lab.vm.vmlab as vmlab

    def rec(total: float, image_note: str, when: str) -> dict:
        phases = [{"name": "image", "seconds": 46.0 if image_note != "cached" else 0.0, "note": image_note},
                  {"name": "boot", "seconds": 90.0, "note": ""}]  # fmt: skip
        return {"ok": True, "recipe": "r9", "total_s": total, "when": when, "settings": {"nice": 0},
                "phases": phases}  # fmt: skip

    (tmp_path / "runs.jsonl").write_text(
        "\n".join(json.dumps(r) for r in [rec(557.1, "built with mmdebstrap", "t1"), rec(510.0, "cached", "t2")])
    )
    monkeypatch.setattr(vmlab, "CACHE", tmp_path)
    monkeypatch.setattr(vmlab, "recipe_hash", lambda: "r9")
    lines = bench_main.vm_lab_runs()
    assert "1 recorded run(s)" in lines[0], lines
    total = next(ln for ln in lines if ln.split()[:1] == ["total"])
    assert "510.0" in total and "557.1" not in total, total
    built = next(ln for ln in lines if "image built in the run" in ln)
    assert "557.1" in built, built


def test_a_vm_lab_recipe_changes_with_the_program_its_scripts_and_the_lab(tmp_path, monkeypatch) -> None:
    """The bench takes the median over runs of one recipe: a change to the steps the program
    takes (components/, __main__.py), to what it sends (scripts/), to what runs it (the
    lab's engine and provider models) or to the VM lab's code is a new recipe, and a run
    from before it is not counted with the runs after it; a comment in the program, or
    the namespace lab, is not."""
    from lab.vm import vmlab

    files = ["scripts/cloud-init.yaml", "scripts/swarm-join.sh", "__main__.py", "components/service.py",
             "components/swarm/membership.py", "lab/vm/host.sh", "lab/vm/vmlab.py", "lab/engine/apply.py",
             "lab/providers/docker.py", "lab/backends/vm.py", "harness/run.py"]  # fmt: skip
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text(f"X = '{f}'\n")
    monkeypatch.setattr(vmlab, "ROOT", tmp_path)
    base = vmlab.recipe_hash()
    for f in files:
        (tmp_path / f).write_text(f"X = '{f}, changed'\n")
        assert vmlab.recipe_hash() != base, f
        (tmp_path / f).write_text(f"X = '{f}'\n")
    assert vmlab.recipe_hash() == base
    # Not a new recipe: the docs, the namespace lab, or a comment or a reformat in the program.
    (tmp_path / "README.md").write_text("docs only\n")
    (tmp_path / "lab/backends").mkdir(parents=True, exist_ok=True)
    (tmp_path / "lab/backends/namespace.py").write_text("X = 1\n")
    (tmp_path / "components/service.py").write_text("# why it is so\nX   =   'components/service.py'  # and here\n")
    assert vmlab.recipe_hash() == base
