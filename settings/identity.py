"""A service's own user-assigned managed identity, made by the stack, and its federated credentials.

Sources (checked 2026-11-24):
- Federated identity credentials on a user-assigned identity: at most 20 per identity; issuer and
  subject together must be unique; the audience for Microsoft Entra ID is ``api://AzureADTokenExchange``
  (Microsoft Learn, "Important considerations and restrictions for federated identity credentials",
  https://learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations).
- AKS workload identity: issuer is the cluster's OIDC issuer URL, subject
  ``system:serviceaccount:<namespace>:<service account>`` (Microsoft Learn, "Deploy and configure workload
  identity on AKS", https://learn.microsoft.com/azure/aks/workload-identity-deploy-cluster).
- Credential names: 3-120 characters, ``^[a-zA-Z0-9][a-zA-Z0-9-_]{2,119}$`` (ARM API
  Microsoft.ManagedIdentity 2023-01-31, federatedIdentityCredentialResourceName).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from settings.errors import KeyedError

ENTRA_TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
MAX_FEDERATED_CREDENTIALS = 20
_CREDENTIAL_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}")
# Kubernetes names: DNS-1123 labels (namespaces and service accounts), at most 63 characters.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _matches(pattern: re.Pattern[str], rule: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value[:60]!r} is not valid: {rule}")
        return value

    return AfterValidator(check)


def _https_url(value: str) -> str:
    if not value.startswith("https://") or len(value) <= len("https://") or any(c.isspace() for c in value):
        raise ValueError(
            f"{value[:60]!r} is not an https:// URL (the OIDC issuer, e.g. the AKS cluster's oidcIssuerUrl)"
        )
    return value


CredentialName = Annotated[
    str, _matches(_CREDENTIAL_NAME, "3-120 letters, digits, '-' and '_', starting with a letter or digit")
]
KubernetesName = Annotated[
    str, _matches(_DNS_LABEL, "a Kubernetes name: 1-63 lowercase letters, digits and '-', alphanumeric at both ends")
]
IssuerUrl = Annotated[str, AfterValidator(_https_url)]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, use_enum_values=False
    )


class FederatedCredentialSettings(_Model):
    """Trust one external workload (e.g. a Kubernetes service account) to sign in as the identity, with no secret."""

    name: CredentialName = Field(description="Name of the credential on the identity, e.g. aks-westeurope.")
    issuer: IssuerUrl = Field(
        description="The token issuer's URL: for AKS the cluster's OIDC issuer "
        "(az aks show --query oidcIssuerProfile.issuerUrl)."
    )
    kubernetes_namespace: KubernetesName | None = Field(
        default=None, description="The workload's Kubernetes namespace (AKS workload identity); with serviceAccount."
    )
    service_account: KubernetesName | None = Field(
        default=None,
        description="The workload's Kubernetes service account (AKS workload identity); with kubernetesNamespace.",
    )
    subject: str | None = Field(
        default=None,
        min_length=1,
        max_length=600,
        description="The token's subject claim, for issuers other than Kubernetes; instead of kubernetesNamespace and "
        "serviceAccount.",
    )
    audiences: tuple[str, ...] = Field(
        default=(ENTRA_TOKEN_EXCHANGE_AUDIENCE,),
        min_length=1,
        description=f"Audiences of the external token; Microsoft Entra ID expects {ENTRA_TOKEN_EXCHANGE_AUDIENCE}.",
    )

    @model_validator(mode="after")
    def _one_subject(self) -> FederatedCredentialSettings:
        kubernetes = (self.kubernetes_namespace, self.service_account)
        if self.subject is not None and any(kubernetes):
            raise KeyedError("subject", "give either subject or kubernetesNamespace with serviceAccount, not both")
        if self.subject is None and not all(kubernetes):
            missing = "serviceAccount" if self.kubernetes_namespace else "kubernetesNamespace"
            raise KeyedError(
                missing, "is needed: give kubernetesNamespace and serviceAccount (AKS workload identity), or subject"
            )
        return self

    @property
    def effective_subject(self) -> str:
        """The subject Entra ID compares with the token's ``sub`` claim."""
        if self.subject is not None:
            return self.subject
        return f"system:serviceaccount:{self.kubernetes_namespace}:{self.service_account}"


class ManagedIdentitySettings(_Model):
    """Ask the stack to create the service's user-assigned managed identity (instead of naming a principalId)."""

    federated_credentials: tuple[FederatedCredentialSettings, ...] = Field(
        default=(),
        max_length=MAX_FEDERATED_CREDENTIALS,
        description="Workloads that may sign in as this identity without a secret "
        f"(at most {MAX_FEDERATED_CREDENTIALS}).",
    )

    @model_validator(mode="after")
    def _unique_credentials(self) -> ManagedIdentitySettings:
        names = Counter(credential.name.lower() for credential in self.federated_credentials)
        repeated = sorted(name for name, count in names.items() if count > 1)
        if repeated:
            raise KeyedError(
                "federatedCredentials", f"credential names must be unique; repeated: {', '.join(repeated)}"
            )
        pairs = Counter((c.issuer, c.effective_subject) for c in self.federated_credentials)
        twice = sorted(subject for (_, subject), count in pairs.items() if count > 1)
        if twice:
            raise KeyedError(
                "federatedCredentials",
                f"issuer and subject must be unique together (Entra ID refuses a repeat); repeated: {', '.join(twice)}",
            )
        return self
