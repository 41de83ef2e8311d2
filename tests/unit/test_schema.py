"""The schema (components/schema.py) is the one description of the configuration:
Settings, the defaults, Pulumi.yaml's `config:` block and the README's table agree with it."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from components import schema
from components.schema import KEYS, typed
from components.settings import DEFAULTS, SECRET_KEYS, Settings, parse

GOOD = {"sshAllowedCidrs": '["198.51.100.7/32"]'}


def test_generated_files_are_up_to_date() -> None:
    """README.md's table and Pulumi.yaml's `config:` block are the schema's, as generated."""
    stale = [p.name for p in schema.out_of_date()]
    assert stale == [], f"{stale} out of date: run `{schema.REGENERATE}` (or `make docs`) and commit"


def test_pulumi_yaml_declares_every_key_but_the_secret_ones() -> None:
    declared = yaml.safe_load(schema.PULUMI_YAML.read_text())["config"]
    assert declared == schema.declared()
    assert set(declared) == set(DEFAULTS) - SECRET_KEYS
    assert sorted(SECRET_KEYS) == ["sshPrivateKey"]  # undeclared: see Pulumi.yaml's comment
    for key, spec in declared.items():
        assert spec["description"] and spec["default"] == DEFAULTS[key], key


def test_the_readme_table_has_a_row_per_key_with_its_default() -> None:
    text = schema.README.read_text()
    table = text.split(schema.BEGIN, 1)[1].split(schema.END, 1)[0]
    rows = [r for r in table.splitlines() if r.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == [k.name for k in KEYS]
    assert "| `sshAllowedCidrs` | array of strings | **required** |" in table
    assert "| `sshPrivateKey` | secret string | empty |" in table
    assert "| `servicePublishedPort` | integer | `5001` |" in table


def test_a_hand_edit_of_a_generated_part_is_seen() -> None:
    readme = schema.README.read_text()
    edited = readme.replace("| `workerCount` | integer | `2` |", "| `workerCount` | integer | `3` |")
    assert edited != readme and schema.with_readme_table(edited) == readme
    pulumi_yaml = schema.PULUMI_YAML.read_text()
    edited = pulumi_yaml.replace("default: t3.micro", "default: t3.small")
    assert edited != pulumi_yaml and schema.with_pulumi_yaml_config(edited) == pulumi_yaml


def test_settings_has_one_field_per_key() -> None:
    assert [f.name for f in dataclasses.fields(Settings)] == [k.field for k in KEYS]


def test_every_default_is_valid_and_lands_in_settings() -> None:
    s = parse(GOOD)
    for k in KEYS:
        if k.required or k.secret or k.default == "":
            continue
        value = getattr(s, k.field)
        assert value == (tuple(k.default) if k.type == "array" else k.default), k.name


def test_each_integer_key_documents_its_bounds() -> None:
    for k in KEYS:
        if k.type == "integer":
            assert k.lo is not None and k.hi is not None, k.name
            assert str(k.hi) in k.description, k.name


@pytest.mark.parametrize(
    "text",
    ["+3", "\u0663", "1_1", " 3", "3 ", "0x3", "3.0", "", "-", "--3", "\uff13", "true", "9" * 5000],
    ids=lambda t: ascii(t)[:12],
)
def test_integers_are_ascii_digits_only(text: str) -> None:
    """Python's int() takes "+3", "٣", "1_1" (reading the last as 11): the schema does not."""
    value, bad = typed(schema.BY_NAME["managerCount"], text)
    assert bad and value == 1


@pytest.mark.parametrize(("text", "value"), [("3", 3), ("-0", 0), ("007", 7)])
def test_integers_that_are_digits_parse(text: str, value: int) -> None:
    assert typed(schema.BY_NAME["workerCount"], text) == (value, [])


def test_docs_command_reports_and_writes(tmp_path, monkeypatch, capsys) -> None:
    readme, pulumi_yaml = tmp_path / "README.md", tmp_path / "Pulumi.yaml"
    readme.write_text(f"intro\n{schema.BEGIN}\nold table\n{schema.END}\nrest\n")
    pulumi_yaml.write_text("name: x\nconfig:\n  old: {}\n")
    monkeypatch.setattr(schema, "ROOT", tmp_path)
    monkeypatch.setattr(schema, "README", readme)
    monkeypatch.setattr(schema, "PULUMI_YAML", pulumi_yaml)
    assert schema.main(["docs"]) == 1 and "out of date" in capsys.readouterr().err
    assert schema.main(["docs", "--write"]) == 0
    assert schema.main(["docs"]) == 0
    assert readme.read_text().startswith("intro\n") and readme.read_text().endswith(f"{schema.END}\nrest\n")
    assert yaml.safe_load(pulumi_yaml.read_text()) == {"name": "x", "config": schema.declared()}
