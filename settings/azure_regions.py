"""Azure public-cloud region names (ARM ``location`` values), shipped so ``location`` is checked offline.

Source: Microsoft Learn "Azure regions list" (https://learn.microsoft.com/azure/reliability/regions-list), read from
its source MicrosoftDocs/reliability-docs, articles/reliability/regions-list.md, "All" tab, "Programmatic name"
column, at commit c7803c506e09cb705dd2dd45c338c480a0500e27 (2026-07-28, "India South Central GA"; unchanged at
HEAD e92155a11a1c0304ccf1b7fb2b0e135c87d0194a, 2026-08-20), read 2026-11-24. Cross-checked against the ARM
``GET /subscriptions/{id}/locations`` snapshot cached in Azure/terraform-azurerm-avm-utl-regions,
modules/cached-data/locations.tf.json at commit e9d62409c6fcc5554b60dd79cd60f55b344ad2f0 (2026-03-12; unchanged at
HEAD 9064b20bc601af2754cea78f25f7b6e22858ef24), read 2026-11-24: its ``regionType == "Physical"`` entries equal this
list except that it lacks ``indiasouthcentral`` (generally available after that snapshot) and adds the
canary/stage regions ``centraluseuap``, ``eastus2euap``, ``eastusstg``, ``southcentralusstg`` and the
``jioindiacentral``/``jioindiawest`` regions, all excluded here. Also consistent with the public-cloud names in
Azure/azure-sdk-for-net sdk/core/Azure.Core/src/AzureLocation.cs at 8802eec94a69e64277f74439f3e1c351a6f22d60 (an
older, shorter list; its Government, China and retired Germany-cloud names are excluded).
Rule: a name is included if and only if the Learn list shows it as a public-cloud region (not "coming soon").
Restricted-access regions that the list shows (``australiacentral2``, ``brazilsoutheast``, ``francesouth``,
``germanynorth``, ``norwaywest``, ``southafricawest``, ``switzerlandwest``, ``uaecentral``) are included: ARM
accepts them and a subscription can be granted access through Azure's region access request process. Restricted
regions the list omits (``swedensouth``, ``jioindiacentral``, ``jioindiawest``, ``brazilus``) are excluded, and so
are logical locations (``global``, geographies such as ``europe``), ``*euap``/``*stage``/``*stg``, Azure Government
(``usgov*``, ``usdod*``), Azure China (``china*``) and the retired ``germanycentral``/``germanynortheast``.
Update: re-read the "Programmatic name" column of the Learn regions list (or diff ``az account list-locations
--query "[?metadata.regionType=='Physical'].name"``), apply the same rule, and bump ``AS_OF`` and ``SOURCE``.
"""

from __future__ import annotations

AS_OF = "2026-11-24"
SOURCE = "MicrosoftDocs/reliability-docs articles/reliability/regions-list.md @ c7803c506e09 (learn.microsoft.com)"
AZURE_REGIONS: frozenset[str] = frozenset(
    {
        "australiacentral",
        "australiacentral2",
        "australiaeast",
        "australiasoutheast",
        "austriaeast",
        "belgiumcentral",
        "brazilsouth",
        "brazilsoutheast",
        "canadacentral",
        "canadaeast",
        "centralindia",
        "centralus",
        "chilecentral",
        "denmarkeast",
        "eastasia",
        "eastus",
        "eastus2",
        "francecentral",
        "francesouth",
        "germanynorth",
        "germanywestcentral",
        "indiasouthcentral",
        "indonesiacentral",
        "israelcentral",
        "italynorth",
        "japaneast",
        "japanwest",
        "koreacentral",
        "koreasouth",
        "malaysiawest",
        "mexicocentral",
        "newzealandnorth",
        "northcentralus",
        "northeurope",
        "norwayeast",
        "norwaywest",
        "polandcentral",
        "qatarcentral",
        "southafricanorth",
        "southafricawest",
        "southcentralus",
        "southeastasia",
        "southindia",
        "spaincentral",
        "swedencentral",
        "switzerlandnorth",
        "switzerlandwest",
        "uaecentral",
        "uaenorth",
        "uksouth",
        "ukwest",
        "westcentralus",
        "westeurope",
        "westindia",
        "westus",
        "westus2",
        "westus3",
    }
)
