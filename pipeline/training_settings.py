"""The training settings, defined once: the choices that make two fine-tuning jobs the same job.

`TrainingSettings` is shared by `aoai-ft train`, the stack's config (`StackSettings.training`) and the stack's
fine-tuned-model resource; `pipeline.jobs.TrainingSpec` adds the uploaded file ids, `pipeline.finetune.
FineTuneRequest` the local paths. The field types below carry the service's rules, so the stack's config keys
use the same ones.
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from pipeline.dataset.billing import MAX_N_EPOCHS
from pipeline.dataset.models import DEFAULT_MODEL

SUFFIX_PATTERN: Final = r"^[A-Za-z0-9_-]{1,40}$"
"""What the fine-tuning API accepts as a model-name suffix."""

Epochs = Annotated[int, Field(ge=1, le=MAX_N_EPOCHS)]
BatchSize = Annotated[int, Field(ge=1)]
LearningRateMultiplier = Annotated[float, Field(gt=0)]
Suffix = Annotated[str, AfterValidator(lambda value: _check_suffix(value))]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]
TrainingMethod = Literal["supervised", "dpo"]
Beta = Annotated[float, Field(gt=0, le=2)]
"""DPO's beta: how far the trained model may move from the one it starts from (small = further). The service
documents no range; (0, 2] is this project's (and its emulator's) bound, well around the usual 0.05-0.5."""
PREVIEW_API_VERSION: Final = "2025-04-01-preview"
"""The newest dated preview of the data plane: the first dated surface with the fine-tuning `method` field."""



def _check_suffix(value: str) -> str:
    if not re.fullmatch(SUFFIX_PATTERN, value):
        raise ValueError("suffix must be 1-40 characters of a-z A-Z 0-9 - _")
    return value


__all__ = ["DEFAULT_MODEL", "PREVIEW_API_VERSION", "SUFFIX_PATTERN", "BatchSize", "Beta", "Epochs",
           "LearningRateMultiplier", "Seed", "Suffix", "TrainingMethod", "TrainingSettings"]


class TrainingSettings(BaseModel):
    """Base model (or a fine-tuned model to continue from), method and hyperparameters; None = the service
    decides."""

    model_config = ConfigDict(frozen=True)

    model: str = Field(DEFAULT_MODEL, min_length=1)
    n_epochs: Epochs | None = None
    batch_size: BatchSize | None = None
    learning_rate_multiplier: LearningRateMultiplier | None = None
    suffix: Suffix | None = None
    seed: Seed | None = None
    method: TrainingMethod = "supervised"
    beta: Beta | None = None

    @model_validator(mode="after")
    def _beta_is_for_dpo(self) -> TrainingSettings:
        if self.beta is not None and self.method != "dpo":
            raise ValueError("beta is a DPO setting: set the training method to dpo, or leave beta unset")
        return self

    def method_body(self) -> dict[str, Any] | None:
        """The fine-tuning API's `method` for a DPO job (its hyperparameters, beta included); None for supervised,
        which is sent the GA way (top-level `hyperparameters`) so it works on every api-version."""
        if self.method != "dpo":
            return None
        hyperparameters: dict[str, Any] = dict(self.hyperparameters())
        if self.beta is not None:
            hyperparameters["beta"] = self.beta
        return {"type": "dpo", "dpo": {"hyperparameters": hyperparameters}}

    def hyperparameters(self) -> dict[str, int | float]:
        """Only the hyperparameters that were set, named as the fine-tuning API expects; the service picks the rest."""
        values = {"n_epochs": self.n_epochs, "batch_size": self.batch_size,
                  "learning_rate_multiplier": self.learning_rate_multiplier}
        return {name: value for name, value in values.items() if value is not None}

    def training_settings(self) -> TrainingSettings:
        """Just these settings (drops what a subclass adds, such as file ids or paths)."""
        return TrainingSettings(**{name: getattr(self, name) for name in TrainingSettings.model_fields})
