"""The one-time bootstrap of the delivery identities and their rights (a Pulumi project of its own).

A package so that its modules are imported as ``bootstrap.<module>``: the main program has a
``settings`` package too, and both run in one process under the mock runtime (tests, preflight).
"""
