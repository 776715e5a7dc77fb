"""An example pipeline service on azure-servicebus and azure-identity that reads its contract.

See docs/local-development.md: run it against the Service Bus emulator on a laptop, or against Azure
with Microsoft Entra ID.
"""
