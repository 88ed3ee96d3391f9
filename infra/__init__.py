"""The Pulumi program: settings, naming, the OpenAIAccount component, the soft-delete guard and the stack itself.

Pulumi runs `infra/__main__.py` (Pulumi.yaml `main: infra/`); everything else here is importable without a
running engine so tests and tools can use it.
"""
