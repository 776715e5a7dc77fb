"""The engine's side of a policy check, without the engine: what ``pulumi preview`` does with a pack.

Layers, each importing only those before it:

- ``levels``: enforcement levels and what "blocking" means;
- ``policy_config``: the ``--policy-pack-config`` file and its reconciliation with the pack's defaults;
- ``resources``: a registered resource as the engine holds it (inputs, outputs, options, provider);
- ``marshal``: those resources as the Analyzer protocol's protobuf messages;
- ``pack``: the pack as a process and the gRPC client that speaks to it;
- ``driver``: the engine's call sequence over a whole deployment.

Nothing here knows how the resources were obtained (the mock runner, a state file) or what the
program is: ``preflight.mockrun`` produces resources, the repository's own layers add settings,
routing and prices on top. Where each behaviour comes from is cited in docs/engine-parity.md.
"""
