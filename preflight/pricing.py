"""An estimated monthly list price for a namespace's tier and its optional parts: an estimate, never a quote.

Rates: published US list prices seen in secondary sources for 2024-2025, not verified against the
live price sheet (docs/azure-facts.md). Override them with --standard-hourly-usd
and --premium-hourly-usd.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.monitoring import alerts_for
from settings.model import NamespaceSettings, Tier

HOURS_PER_MONTH = 730
RATES_SOURCE = "US list prices seen in secondary sources, 2024-2025; not verified against the live Azure price sheet"
RATES_AS_OF = "2025"
# Optional parts (docs/production.md). Azure pricing pages, read 2025; not verified against the live
# price sheet: Private Link https://azure.microsoft.com/pricing/details/private-link/ (per endpoint-hour;
# data processed per GB not estimated), Azure DNS https://azure.microsoft.com/pricing/details/dns/ (per
# private zone-month, first 25 zones; queries not estimated), Azure Monitor
# https://azure.microsoft.com/pricing/details/monitor/ (per metric alert rule's monitored time series-month).
PARTS_SOURCE = "Azure pricing pages (Private Link, Azure DNS, Azure Monitor) read 2025; not verified live"


@dataclass(frozen=True)
class Rates:
    """Hourly list prices in USD."""

    standard_base_hourly: float = 0.0135
    premium_per_unit_hourly: float = 0.928
    private_endpoint_hourly: float = 0.01
    private_dns_zone_monthly: float = 0.50
    metric_alert_monthly: float = 0.10
    source: str = RATES_SOURCE
    as_of: str = RATES_AS_OF


@dataclass(frozen=True)
class Estimate:
    """A monthly estimate and how it was computed."""

    tier: str
    units: int
    monthly_usd: float
    basis: str
    source: str
    as_of: str
    parts: tuple[str, ...] = ()
    """One line per optional part: its list price, or why it is not estimated."""


def _parts(namespace: NamespaceSettings, rates: Rates) -> tuple[float, list[str]]:
    """Monthly list price of the optional parts that have one, and a labelled line for each part."""
    total, lines = 0.0, []
    if namespace.private_networking is not None:
        endpoint = rates.private_endpoint_hourly * HOURS_PER_MONTH
        total += endpoint
        lines.append(
            f"private endpoint: ${rates.private_endpoint_hourly}/h x {HOURS_PER_MONTH} h = ${endpoint:,.2f} "
            "(data processed per GB not estimated)"
        )
        if namespace.private_networking.private_dns_zone_id is None:
            total += rates.private_dns_zone_monthly
            lines.append(
                f"private DNS zone (created): ${rates.private_dns_zone_monthly:,.2f}/month (queries not estimated)"
            )
        else:
            lines.append("private DNS zone: existing, not estimated")
    if namespace.diagnostics is not None:
        where = "an existing workspace" if namespace.diagnostics.workspace_id else "a created workspace"
        lines.append(f"diagnostics to {where}: not estimated (Log Analytics bills ingested GB and retention)")
    if namespace.alerts is not None:
        specs = alerts_for(namespace.tier is Tier.PREMIUM)
        rules = sum(1 for spec in specs if getattr(namespace.alerts, spec.key).enabled)
        alerts = rates.metric_alert_monthly * rules
        total += alerts
        lines.append(f"metric alerts: {rules} x ${rates.metric_alert_monthly:,.2f}/month = ${alerts:,.2f}")
    if namespace.customer_managed_key is not None:
        lines.append("customer-managed key: not estimated (Key Vault key operations are billed by Key Vault)")
    return total, lines


def estimate(namespace: NamespaceSettings, rates: Rates) -> Estimate:
    """Monthly cost of the namespace's tier and optional parts at ``rates`` (operations beyond the included ones,
    data volumes and log ingestion not counted)."""
    if namespace.tier is Tier.PREMIUM:
        units = namespace.effective_capacity or 1
        monthly = rates.premium_per_unit_hourly * units * HOURS_PER_MONTH
        basis = f"{units} messaging unit(s) x ${rates.premium_per_unit_hourly}/h x {HOURS_PER_MONTH} h"
    else:
        units = 0
        monthly = rates.standard_base_hourly * HOURS_PER_MONTH
        basis = (
            f"base charge ${rates.standard_base_hourly}/h x {HOURS_PER_MONTH} h "
            "(13M operations included; more are billed per million)"
        )
    extra, parts = _parts(namespace, rates)
    if parts:
        basis += f"; plus {'; '.join(parts)} [{PARTS_SOURCE}]"
    return Estimate(
        namespace.tier.value, units, round(monthly + extra, 2), basis, rates.source, rates.as_of, tuple(parts)
    )
