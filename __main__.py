"""The Pulumi program: typed settings in, messaging for the ML pipeline out."""

import pulumi
from pulumi_azure_native import resources

from components.contract import program_contracts
from components.messaging import ServiceBusPipeline, ServiceBusPipelineArgs
from settings.loader import settings_from_engine

settings = settings_from_engine()

resource_group_name: pulumi.Input[str] = (
    settings.resource_group_name
    or resources.ResourceGroup(
        "resource-group",
        resource_group_name=settings.names.resource_group,
        location=settings.location,
        tags=settings.all_tags,
    ).name
)

pipeline = ServiceBusPipeline("ml-pipeline", ServiceBusPipelineArgs.from_settings(settings, resource_group_name))

pulumi.export(
    "messaging",
    {
        "resourceGroup": resource_group_name,
        "namespace": pipeline.namespace_name,
        "endpoint": pipeline.endpoint,
        "topic": pipeline.topic_name,
        "subscriptions": pipeline.subscriptions,
    },
)
# What each service needs from the bus (contracts/service-contract.schema.json), by service name.
pulumi.export(
    "services",
    program_contracts(
        settings,
        pipeline.namespace_name,
        pipeline.topic_name,
        pipeline.subscriptions,
        {name: identity.client_id for name, identity in pipeline.identities.items()},
    ),
)
