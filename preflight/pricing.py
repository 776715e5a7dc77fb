"""An estimated monthly list price for a namespace's tier: an estimate, never a quote.

Rates: published US list prices seen in secondary sources for 2024-2025, not verified against the
live price sheet (docs/azure-facts.md). Override them with --standard-hourly-usd
and --premium-hourly-usd.
"""

from __future__ import annotations

from dataclasses import dataclass

from settings.model import NamespaceSettings, Tier

HOURS_PER_MONTH = 730
RATES_SOURCE = "US list prices seen in secondary sources, 2024-2025; not verified against the live Azure price sheet"
RATES_AS_OF = "2025"


@dataclass(frozen=True)
class Rates:
    """Hourly list prices in USD."""

    standard_base_hourly: float = 0.0135
    premium_per_unit_hourly: float = 0.928
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


def estimate(namespace: NamespaceSettings, rates: Rates) -> Estimate:
    """Monthly cost of the namespace's tier at ``rates`` (operations beyond the included ones not counted)."""
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
    return Estimate(namespace.tier.value, units, round(monthly, 2), basis, rates.source, rates.as_of)
