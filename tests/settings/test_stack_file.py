"""Reading stack files the way the Pulumi CLI does, and failing cleanly on broken ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings.errors import SettingsError
from settings.stack_file import load_stack_file, read_stack_config
from tests.support import PROJECT_FILE, STACKS_DIR


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_pulumi_yaml_points_the_cli_at_the_stacks_directory() -> None:
    text = PROJECT_FILE.read_text()
    assert "stackConfigDir: stacks" in text
    assert "virtualenv: venv" in text


def test_missing_stack_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "Pulumi.nope.yaml"
    with pytest.raises(SettingsError, match=rf"^{missing}: file not found$"):
        load_stack_file(missing, PROJECT_FILE)


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "Pulumi.bad.yaml", "config:\n  ml-messaging:environment: [dev\n")
    with pytest.raises(SettingsError, match=rf"^{path}:\d+: invalid YAML: "):
        load_stack_file(path, PROJECT_FILE)


def test_unknown_top_level_key_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "Pulumi.x.yaml", "confg:\n  a: b\n")
    with pytest.raises(SettingsError, match=r"confg: unknown top-level key; allowed: config, "):
        read_stack_config(path, PROJECT_FILE)


def test_config_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "Pulumi.x.yaml", "config: [1, 2]\n")
    with pytest.raises(SettingsError, match=r"config: must be a mapping"):
        read_stack_config(path, PROJECT_FILE)


def test_top_level_scalars_reach_the_program_as_text_and_bare_keys_get_the_project_namespace(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "Pulumi.x.yaml", "config:\n  instance: 7\n  ml-messaging:protected: true\n")
    config = read_stack_config(path, PROJECT_FILE)
    assert config.values["ml-messaging:instance"] == "7"
    assert config.values["ml-messaging:protected"] == "true"


def test_project_defaults_apply_and_the_stack_overrides_them(tmp_path: Path) -> None:
    project = write(
        tmp_path,
        "Pulumi.yaml",
        "name: ml-messaging\nruntime: python\nconfig:\n"
        "  ml-messaging:location:\n    default: northeurope\n  ml-messaging:instance:\n    default: '002'\n",
    )
    stack = write(tmp_path, "Pulumi.s.yaml", "config:\n  ml-messaging:instance: '009'\n")
    config = read_stack_config(stack, project)
    assert config.values["ml-messaging:location"] == "northeurope"
    assert config.values["ml-messaging:instance"] == "009"


def test_secure_values_are_marked_secret_and_never_sent_as_plain_config(tmp_path: Path) -> None:
    shipped = (STACKS_DIR / "Pulumi.dev.yaml").read_text()
    stack = write(tmp_path, "Pulumi.dev.yaml", shipped + "  azure-native:clientSecret:\n    secure: v1:AAAA\n")
    config, settings = load_stack_file(stack, PROJECT_FILE)
    assert config.secret_keys == {"azure-native:clientSecret"}
    assert "azure-native:clientSecret" not in config.for_engine()
    offline = config.for_offline_run()
    assert offline["azure-native:clientSecret"] == "[secret]"  # of unknown value offline, never the ciphertext
    assert {k: v for k, v in offline.items() if k != "azure-native:clientSecret"} == config.for_engine()
    assert settings.environment == "dev"
