"""Entry point the Pulumi CLI runs for `pulumi preview --policy-pack policy`.

The CLI executes this directory with `runpy.run_path(<dir>, run_name="__main__")`, which puts the directory
first on sys.path; tests import it as `policy.__main__`, where serving must not start (PolicyPack's
constructor serves gRPC forever).
"""
from __future__ import annotations

from pulumi_policy import EnforcementLevel, PolicyPack

if __package__:  # imported as policy.__main__ (tests)
    from .policies import build_policies
else:  # run by the Pulumi CLI
    from policies import build_policies  # type: ignore[no-redef]

PACK_NAME = "aoai-finetune-guardrails"


def serve() -> None:
    """Start the analyzer gRPC server and block; prints the port for the Pulumi engine."""
    PolicyPack(
        name=PACK_NAME,
        enforcement_level=EnforcementLevel.MANDATORY,
        policies=build_policies(),
        description="Guardrails for Azure OpenAI fine-tuning stacks: keyless, private with a private endpoint, "
                    "diagnostics, locked and tagged, approved regions/SKUs in prod.",
    )


if __name__ == "__main__":
    serve()
