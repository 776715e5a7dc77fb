"""Private networking for the namespace: its private endpoint, private DNS and firewall.

Sources (Microsoft Learn):
- private endpoints for Service Bus are Premium only, sub-resource (group ID) ``namespace``:
  https://learn.microsoft.com/azure/service-bus-messaging/private-link-service
- the ``privatelink.servicebus.windows.net`` zone and its zone group:
  https://learn.microsoft.com/azure/private-link/private-endpoint-dns#integration
- a private DNS zone resolves only in virtual networks linked to it:
  https://learn.microsoft.com/azure/dns/private-dns-virtual-network-links
- trusted services and IP rules: https://learn.microsoft.com/azure/service-bus-messaging/service-bus-ip-filtering
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_azure_native import network, privatedns, servicebus

from settings.features import SERVICE_BUS_PRIVATE_DNS_ZONE, NetworkRulesSettings, PrivateNetworkingSettings
from settings.naming import PipelineNames

# Sub-resource of a Service Bus namespace that a private endpoint connects to.
NAMESPACE_GROUP_ID = "namespace"
# Private DNS zones are global resources.
GLOBAL_LOCATION = "Global"


def private_endpoint(
    name: str,
    names: PipelineNames,
    settings: PrivateNetworkingSettings,
    namespace: servicebus.Namespace,
    resource_group_name: pulumi.Input[str],
    location: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> network.PrivateEndpoint:
    """The namespace's private endpoint in the configured subnet, registered in the private DNS zone."""
    endpoint = network.PrivateEndpoint(
        f"{name}-private-endpoint",
        private_endpoint_name=names.private_endpoint,
        resource_group_name=resource_group_name,
        location=location,
        subnet=network.SubnetArgs(id=settings.subnet_id),
        custom_network_interface_name=names.private_endpoint_nic,
        private_link_service_connections=[
            network.PrivateLinkServiceConnectionArgs(
                name=names.private_endpoint,
                private_link_service_id=namespace.id,
                group_ids=[NAMESPACE_GROUP_ID],
            )
        ],
        tags=dict(tags),
        opts=opts,
    )
    zone_id: pulumi.Input[str]
    if settings.private_dns_zone_id is not None:
        zone_id = settings.private_dns_zone_id
    else:
        zone = privatedns.PrivateZone(
            f"{name}-private-dns-zone",
            private_zone_name=SERVICE_BUS_PRIVATE_DNS_ZONE,
            resource_group_name=resource_group_name,
            location=GLOBAL_LOCATION,
            tags=dict(tags),
            opts=opts,
        )
        privatedns.VirtualNetworkLink(
            f"{name}-private-dns-link",
            virtual_network_link_name=names.private_dns_zone_link,
            private_zone_name=zone.name,
            resource_group_name=resource_group_name,
            location=GLOBAL_LOCATION,
            virtual_network=privatedns.SubResourceArgs(id=settings.virtual_network_id),
            registration_enabled=False,  # the zone group writes the endpoint's record; no VM auto-registration
            tags=dict(tags),
            opts=opts,
        )
        zone_id = zone.id
    network.PrivateDnsZoneGroup(
        f"{name}-private-dns-zone-group",
        private_dns_zone_group_name="default",
        private_endpoint_name=endpoint.name,
        resource_group_name=resource_group_name,
        private_dns_zone_configs=[
            network.PrivateDnsZoneConfigArgs(
                name=SERVICE_BUS_PRIVATE_DNS_ZONE.replace(".", "-"), private_dns_zone_id=zone_id
            )
        ],
        opts=opts,
    )
    return endpoint


def network_rule_set(
    name: str,
    rules: NetworkRulesSettings,
    public_network_access: str,
    namespace: servicebus.Namespace,
    resource_group_name: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> servicebus.NamespaceNetworkRuleSet:
    """The namespace's firewall. Its ``publicNetworkAccess`` is the namespace's: Azure keeps one setting, and
    azure-native would otherwise flip it back on every update (pulumi/pulumi-azure-native#4825)."""
    # Without IP or virtual network rules the public endpoint is open to all (Learn, private-link-service);
    # so any IP rule, or public access turned off, makes the default action Deny.
    deny = bool(rules.ip_rules) or public_network_access != "Enabled"
    return servicebus.NamespaceNetworkRuleSet(
        f"{name}-network-rules",
        namespace_name=namespace.name,
        resource_group_name=resource_group_name,
        default_action=servicebus.DefaultAction.DENY if deny else servicebus.DefaultAction.ALLOW,
        public_network_access=servicebus.PublicNetworkAccessFlag(public_network_access),
        trusted_service_access_enabled=rules.trusted_service_access_enabled,
        ip_rules=[
            servicebus.NWRuleSetIpRulesArgs(ip_mask=ip_rule, action=servicebus.NetworkRuleIPAction.ALLOW)
            for ip_rule in rules.ip_rules
        ],
        opts=opts,
    )
