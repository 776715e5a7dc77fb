"""Deterministic Azure names after the Cloud Adoption Framework, and Azure's rules for them.

Rules: Microsoft "Naming rules and restrictions for Azure resources" (Microsoft.ServiceBus and
Microsoft.Resources); abbreviations: CAF "Abbreviation recommendations for Azure resources".
See docs/azure-facts.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Short region codes keep namespace names well under the 50-character limit. A region missing
# here is used verbatim, and the settings model still checks the resulting length.
REGION_ABBREVIATIONS: dict[str, str] = {
    "australiaeast": "aue",
    "brazilsouth": "brs",
    "canadacentral": "cac",
    "centralindia": "inc",
    "centralus": "cus",
    "eastasia": "ea",
    "eastus": "eus",
    "eastus2": "eus2",
    "francecentral": "frc",
    "germanywestcentral": "gwc",
    "japaneast": "jpe",
    "koreacentral": "krc",
    "northcentralus": "ncus",
    "northeurope": "neu",
    "norwayeast": "nwe",
    "southafricanorth": "san",
    "southcentralus": "scus",
    "southeastasia": "sea",
    "swedencentral": "sdc",
    "switzerlandnorth": "szn",
    "uaenorth": "uan",
    "uksouth": "uks",
    "westeurope": "weu",
    "westus": "wus",
    "westus2": "wus2",
    "westus3": "wus3",
}

NAMESPACE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{4,48}[A-Za-z0-9]$")
NAMESPACE_FORBIDDEN_SUFFIXES = ("-sb", "-mgmt")
TOPIC_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,258}[A-Za-z0-9])?$")
SUBSCRIPTION_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,48}[A-Za-z0-9])?$")
# Unanchored, so that it can also sit inside a resource ID pattern (settings/features.py).
RESOURCE_GROUP_NAME_PATTERN = r"[-\w._()]{0,89}[-\w_()]"
RESOURCE_GROUP_NAME = re.compile(rf"^{RESOURCE_GROUP_NAME_PATTERN}$")
# Public-cloud DNS suffix of every namespace: its host is ``<namespace>.servicebus.windows.net``.
SERVICE_BUS_DNS_SUFFIX = "servicebus.windows.net"


def namespace_name_problem(name: str) -> str | None:
    """Return why ``name`` is not a valid Service Bus namespace name, or None when it is."""
    if not 6 <= len(name) <= 50:
        return f"must be 6-50 characters long (it has {len(name)})"
    if not NAMESPACE_NAME.match(name):
        return "may contain only letters, digits and hyphens, must start with a letter and end with a letter or digit"
    if name.lower().endswith(NAMESPACE_FORBIDDEN_SUFFIXES):
        return "must not end with '-sb' or '-mgmt'"
    return None


def fully_qualified_namespace(namespace: str) -> str:
    """``<namespace>.servicebus.windows.net``: the host azure-servicebus connects to."""
    return f"{namespace}.{SERVICE_BUS_DNS_SUFFIX}"


def region_code(location: str) -> str:
    """The CAF short code for an Azure region, or the region itself when none is known."""
    return REGION_ABBREVIATIONS.get(location.lower(), location.lower())


@dataclass(frozen=True)
class PipelineNames:
    """The Azure names of one pipeline deployment, all derived from the same four parts."""

    workload: str
    environment: str
    location: str
    instance: str

    @property
    def _suffix(self) -> str:
        return f"{self.workload}-{self.environment}-{region_code(self.location)}-{self.instance}"

    @property
    def resource_group(self) -> str:
        """``rg-<workload>-<env>-<region>-<instance>``."""
        return f"rg-{self._suffix}"

    @property
    def namespace(self) -> str:
        """``sbns-<workload>-<env>-<region>-<instance>``: globally unique DNS label."""
        return f"sbns-{self._suffix}"

    @property
    def topic(self) -> str:
        """``sbt-<workload>-events``: the one topic every service publishes to."""
        return f"sbt-{self.workload}-events"

    @staticmethod
    def subscription(service: str) -> str:
        """``sbts-<service>``: the consuming service's own subscription."""
        return f"sbts-{service}"

    @staticmethod
    def rule(event_type: str) -> str:
        """``evt-<event>``: the correlation rule for a consumed event type beyond a subscription's first.

        Azure: 1-50 characters, ending with a letter or digit; settings.model.EventType keeps every event type
        within that (at most 46 characters, ending with a letter or digit).
        """
        return f"evt-{event_type}"

    @property
    def fully_qualified_namespace(self) -> str:
        """``<namespace>.servicebus.windows.net``: the namespace's host."""
        return fully_qualified_namespace(self.namespace)

    def managed_identity(self, service: str) -> str:
        """``id-<workload>-<service>-<env>-<region>-<instance>``: a service's user-assigned identity (CAF ``id``).

        Azure: 3-128 characters, letters, digits, '-' and '_', starting with a letter or digit; a service name
        (at most 40) keeps it well within.
        """
        return f"id-{self.workload}-{service}-{self.environment}-{region_code(self.location)}-{self.instance}"

    @property
    def management_lock(self) -> str:
        """``lock-<namespace>``: the CanNotDelete lock that guards a protected namespace."""
        return f"lock-{self.namespace}"

    @property
    def private_endpoint(self) -> str:
        """``pep-<namespace>``: the namespace's private endpoint (CAF abbreviation ``pep``)."""
        return f"pep-{self.namespace}"

    @property
    def private_endpoint_nic(self) -> str:
        """``nic-pep-<namespace>``: the private endpoint's network interface."""
        return f"nic-{self.private_endpoint}"

    @property
    def private_dns_zone_link(self) -> str:
        """``vnetlink-<namespace>``: the created private DNS zone's link to the subnet's virtual network."""
        return f"vnetlink-{self.namespace}"

    @property
    def diagnostic_setting(self) -> str:
        """``diag-<namespace>``: the namespace's diagnostic setting."""
        return f"diag-{self.namespace}"

    @property
    def log_analytics_workspace(self) -> str:
        """``log-<workload>-<env>-<region>-<instance>``: a created Log Analytics workspace (CAF ``log``)."""
        return f"log-{self._suffix}"

    @property
    def autoscale_setting(self) -> str:
        """``autoscale-<namespace>``: the namespace's autoscale setting (messaging units on CPU)."""
        return f"autoscale-{self.namespace}"

    def metric_alert(self, metric: str) -> str:
        """``alert-<namespace>-<metric>``: one metric alert rule."""
        return f"alert-{self.namespace}-{metric.lower()}"
