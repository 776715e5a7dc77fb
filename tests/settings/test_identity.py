"""A service's identity made by the stack: the schema, its cross-field rules and their messages."""

from __future__ import annotations

from typing import Any

import pytest

from settings.errors import SettingsError
from settings.loader import settings_from_config
from settings.stack_file import read_stack_config
from tests.support import IDENTITY_STACK_FILE, PROJECT_FILE

ISSUER = "https://westeurope.oic.prod-aks.azure.com/tenant/cluster/"


def base() -> dict[str, Any]:
    config = read_stack_config(IDENTITY_STACK_FILE, PROJECT_FILE)
    return dict(config.values)


def validate(**service: Any) -> str:
    """Validate the fixture with one more service; the error lines, or '' when valid."""
    values = base()
    values["ml-messaging:services"] = [
        *values["ml-messaging:services"],
        {"name": "extra", "consumes": ["data.ingested"], **service},
    ]
    try:
        settings_from_config(values, "ml-messaging", "stack.yaml")
    except SettingsError as error:
        return "\n".join(error.lines)
    return ""


def credential(**fields: Any) -> dict[str, Any]:
    return {"name": "aks", "issuer": ISSUER, "kubernetesNamespace": "ml", "serviceAccount": "extra", **fields}


def test_the_fixture_is_valid_and_builds_the_aks_subject() -> None:
    assert validate() == ""
    values = base()
    settings = settings_from_config(values, "ml-messaging", "stack.yaml")
    training = next(s for s in settings.services if s.name == "training")
    assert training.managed_identity is not None
    (first, _) = training.managed_identity.federated_credentials
    assert first.effective_subject == "system:serviceaccount:ml:training"
    assert first.audiences == ("api://AzureADTokenExchange",)
    assert settings.names.managed_identity("training") == "id-mlpipe-training-dev-weu-001"


@pytest.mark.parametrize(
    ("service", "says"),
    [
        (
            {"principalId": "c2b8e7f1-9d34-4a6e-b1f0-5e7a3c2d1f33", "managedIdentity": {}},
            "services[3].managedIdentity: and principalId exclude each other",
        ),
        ({"principalType": "Group", "managedIdentity": {}}, "services[3].principalType: must be ServicePrincipal"),
        (
            {"managedIdentity": {"federatedCredentials": [credential(subject="x")]}},
            "give either subject or kubernetesNamespace with serviceAccount, not both",
        ),
        (
            {"managedIdentity": {"federatedCredentials": [credential(serviceAccount=None)]}},
            "serviceAccount: is needed",
        ),
        (
            {"managedIdentity": {"federatedCredentials": [credential(issuer="http://insecure.example")]}},
            "is not an https:// URL",
        ),
        (
            {"managedIdentity": {"federatedCredentials": [credential(), credential(name="aks2")]}},
            "issuer and subject must be unique together",
        ),
        (
            {"managedIdentity": {"federatedCredentials": [credential(), credential(serviceAccount="other")]}},
            "credential names must be unique; repeated: aks",
        ),
        (
            {
                "managedIdentity": {
                    "federatedCredentials": [credential(name=f"c{i:02d}", serviceAccount=f"s{i}") for i in range(21)]
                }
            },
            "at most 20",
        ),
        (
            {"managedIdentity": {"federatedCredentials": [credential(kubernetesNamespace="ML_Team")]}},
            "a Kubernetes name",
        ),
    ],
)
def test_identity_rules(service: dict[str, Any], says: str) -> None:
    error = validate(**service)
    assert says in error, error
    assert error.startswith("stack.yaml: ml-messaging:services[3]"), error
