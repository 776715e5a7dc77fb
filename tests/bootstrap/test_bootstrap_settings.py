"""The bootstrap config: the shipped stack file's keys, and bad config rejected with one line naming file and key."""

from __future__ import annotations

from typing import Any

import pytest

from bootstrap.settings import BootstrapSettings, SettingsError, settings_from_config
from preflight.mockrun import ProgramError
from tests.bootstrap.bootstrap_support import (
    PROJECT,
    SOURCE,
    STATE_ACCOUNT_ID,
    base_settings,
    engine_config,
    run_bootstrap,
    shipped_engine_config,
)

# A Key Vault key *name* where its resource ID belongs (a plain name: nothing secret in it).
NOT_A_KEY_ID = "kv"


def rejection(**overrides: Any) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        settings_from_config(engine_config({**base_settings(), **overrides}), SOURCE)
    return caught.value.lines


def test_the_base_config_is_valid() -> None:
    settings = settings_from_config(engine_config(base_settings()), SOURCE)
    assert (settings.owner, settings.repository_name) == ("acme", "ml-messaging")
    assert (settings.state_account_name, settings.state_account_resource_group) == ("stmlstate", "rg-pulumi-state")
    assert settings.dev.create_resource_group and settings.prod.create_resource_group
    assert settings.name_prefix == "ml-messaging"


def test_the_shipped_stack_file_names_only_its_placeholders() -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_config(shipped_engine_config(), SOURCE)
    keys = sorted(line.split(": ")[1] for line in caught.value.lines)
    assert keys == [
        f"{PROJECT}:productionReviewers.teams[0]",
        f"{PROJECT}:repository",
        f"{PROJECT}:stateStorageAccountId",
    ]
    assert all(line.startswith(f"{SOURCE}: ") and "\n" not in line for line in caught.value.lines)


def test_the_shipped_stack_file_is_valid_once_filled_in() -> None:
    filled = shipped_engine_config(
        {
            "<owner>/<repo>": "acme/ml-messaging",
            "<subscription-id>": "00000000-0000-0000-0000-000000000000",
            "<stateaccount>": "stmlstate",
            "<team-id>": "4242",
        }
    )
    settings = settings_from_config(filled, SOURCE)
    assert settings.state_storage_account_id == STATE_ACCOUNT_ID
    assert settings.production_reviewers.teams == (4242,)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"repository": "ml-messaging"}, "repository: 'ml-messaging' is not a GitHub repository as owner/name"),
        ({"location": "West Europe"}, "location: 'West Europe' is not an ARM location name"),
        (
            {"stateStorageAccountId": "stmlstate"},
            "stateStorageAccountId: 'stmlstate' is not a storage account resource ID",
        ),
        (
            {"dev": {"resourceGroupName": "rg-dev", "stateContainer": "Pulumi_State"}},
            "dev.stateContainer: 'Pulumi_State' is not a blob container name",
        ),
        ({"dev": {"stateContainer": "pulumi-state-dev"}}, "dev.resourceGroupName: is required"),
        (
            {"prod": {"resourceGroupName": "RG-MLPIPE-DEV-WEU-001", "stateContainer": "pulumi-state-prod"}},
            "prod.resourceGroupName: must differ from dev.resourceGroupName",
        ),
        (
            {"prod": {"resourceGroupName": "rg-prod", "stateContainer": "pulumi-state-dev"}},
            "prod.stateContainer: must differ from dev.stateContainer",
        ),
        (
            {"prod": {"resourceGroupName": "rg-prod", "stateContainer": "state-prod", "secretsKeyId": NOT_A_KEY_ID}},
            f"prod.secretsKeyId: {NOT_A_KEY_ID!r} is not a Key Vault key resource ID",
        ),
        (
            {"productionReviewers": {}},
            "productionReviewers: must name 1 to 6 reviewers (teams and users together), got 0",
        ),
        ({"productionReviewers": {"teams": [1, 2, 3], "users": [4, 5, 6, 7]}}, "got 7"),
        ({"productionReviewers": {"teams": ["core"]}}, "productionReviewers.teams[0]: Input should be a valid integer"),
        ({"prod": {"resourceGroupName": "rg-prod", "stateContainer": "s-prod", "extra": 1}}, "prod.extra: unknown key"),
        ({"clientSecret": "x"}, "clientSecret: unknown key"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(overrides: dict[str, Any], expected: str) -> None:
    (line,) = rejection(**overrides)
    assert line.startswith(f"{SOURCE}: {PROJECT}:")
    assert expected in line


def test_same_key_for_both_environments_is_refused() -> None:
    settings = base_settings()
    key = f"{STATE_ACCOUNT_ID.rsplit('/providers/', 1)[0]}/providers/Microsoft.KeyVault/vaults/kv-ml/keys/shared"
    (line,) = rejection(
        dev={**settings["dev"], "secretsKeyId": key},
        prod={**settings["prod"], "secretsKeyId": key},
    )
    assert line == f"{SOURCE}: {PROJECT}:prod.secretsKeyId: must differ from dev.secretsKeyId (one key per environment)"


def test_a_foreign_namespace_is_refused_but_provider_config_is_not() -> None:
    config = engine_config(base_settings())
    assert isinstance(
        settings_from_config({**config, "azure-native:location": "westeurope", "github:owner": "acme"}, SOURCE),
        BootstrapSettings,
    )
    with pytest.raises(SettingsError) as caught:
        settings_from_config({**config, "ml-messaging:repository": "acme/x"}, SOURCE)
    assert caught.value.lines == [
        f"{SOURCE}: ml-messaging:repository: unknown config namespace 'ml-messaging'; use {PROJECT}:<key>"
    ]


def test_the_program_stops_before_registering_anything_with_one_line() -> None:
    with pytest.raises(ProgramError) as caught:
        run_bootstrap(repository="not a repository")
    message = str(caught.value)
    assert message.startswith(f"{SOURCE}: {PROJECT}:repository: ")
    assert "\n" not in message and "Traceback" not in message


def test_an_environment_may_not_share_a_resource_group_with_the_state_account_or_the_vault() -> None:
    settings = base_settings()
    state_group = STATE_ACCOUNT_ID.split("/")[4]
    (line,) = rejection(dev={**settings["dev"], "resourceGroupName": state_group.upper()})
    assert line.startswith(f"{SOURCE}: {PROJECT}:dev.resourceGroupName: must not be the resource group of the state")
    subscription = STATE_ACCOUNT_ID.split("/")[2]
    vault_key = (
        f"/subscriptions/{subscription}/resourceGroups/rg-vault/providers/Microsoft.KeyVault/vaults/kv-ml/keys/prod"
    )
    (line,) = rejection(prod={**settings["prod"], "resourceGroupName": "rg-vault", "secretsKeyId": vault_key})
    assert (
        "prod.resourceGroupName: must not be the resource group of the state storage account or the secrets vault"
        in line
    )
