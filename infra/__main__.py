"""Entry point Pulumi runs (`main: infra/` in Pulumi.yaml), via runpy with the working directory set to infra/.

Imports are absolute (`from infra.x import ...`); when the project is not installed, the guard below puts the
project root on sys.path so `infra` and `pipeline` resolve anyway.
"""
from __future__ import annotations

import sys
from pathlib import Path

try:
    import infra  # noqa: F401  (installed, or already on the path)
except ImportError:  # running from a fresh clone without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra.program import build_stack, check_principal, client_identity, export_outputs
from infra.settings import StackConfigError, StackSettings


def main() -> None:
    """Read and validate every setting first: a bad value stops here, before any resource is registered."""
    try:
        settings = StackSettings.from_pulumi_config()  # every rule, promotion's included
    except StackConfigError as exc:
        raise pulumi.RunError(str(exc)) from None  # a clean message, no traceback
    if settings.mode == "train":
        from infra.training import check_datasets

        check_datasets(settings)  # a bad dataset or budget stops here too, before any resource
    try:
        identity = client_identity()
        check_principal(settings, identity)  # a principalType ARM would refuse stops here too
    except StackConfigError as exc:
        raise pulumi.RunError(str(exc)) from None
    if settings.mode == "promote":
        from infra.promotion import add_promotion, checked_promotion_source

        source = checked_promotion_source(settings)  # a source below the quality bar stops here, before any resource
        parts = build_stack(settings, identity)
        parts.outputs.update(add_promotion(settings, parts, source))
    else:
        from infra.training import add_fine_tuning

        parts = build_stack(settings, identity)
        parts.outputs.update(add_fine_tuning(settings, parts))
    export_outputs(parts.outputs)


if __name__ == "__main__":
    main()
