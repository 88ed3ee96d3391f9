"""Which models an account has: the base models that can be fine-tuned (and deployed) plus the fine-tuned
models its jobs produced. The data-plane helper extends `fine_tuned` lookups with its jobs table."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pipeline.emulator.clock import Clock
from pipeline.emulator.db import Database

# Base models this emulator can fine-tune (reference §8.2).
FINE_TUNABLE_BASE_MODELS: tuple[str, ...] = (
    "gpt-35-turbo-0613",
    "gpt-35-turbo-1106",
    "gpt-35-turbo-0125",
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
)

# What every deployment reports as its capabilities (ARM) and what chat enforces (data plane).
MAX_CONTEXT_TOKENS = 128_000
MAX_OUTPUT_TOKENS = 16_384


@dataclass
class ModelCatalog:
    db: Database
    clock: Clock
    # Set by the data plane: brings `fine_tuned_models` up to date with jobs that finished since last read.
    before_lookup: Callable[[], None] | None = field(default=None, repr=False)

    def is_base_model(self, model: str) -> bool:
        return model in FINE_TUNABLE_BASE_MODELS

    def fine_tuned_exists(self, account: str, model: str) -> bool:
        """True when a succeeded job of `account` produced `model` (or one of its kept checkpoints) and it was
        not deleted."""
        if self.before_lookup is not None:
            self.before_lookup()
        try:
            row = self.db.query_one(
                "SELECT 1 FROM fine_tuned_models WHERE lower(account)=lower(?) AND id=? AND deleted_at IS NULL",
                (account, model),
            )
        except Exception:  # table not created yet: no fine-tuned models
            return False
        return row is not None

    def exists(self, account: str, model: str) -> bool:
        return self.is_base_model(model) or self.fine_tuned_exists(account, model)
