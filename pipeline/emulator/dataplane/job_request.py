"""POST /fine_tuning/jobs: the body's shape (strict, as Azure checks it) and the 400 that names the bad field."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, StrictStr, ValidationError

from pipeline.emulator.errors import AzureError

Auto = Literal["auto"]
Number = Annotated[Union[StrictInt, StrictFloat], "a JSON number"]


class Hyperparameters(BaseModel):
    """Strict types: JSON `true` is not an epoch count, `"3"` is not a batch size (Azure answers 400)."""

    model_config = ConfigDict(extra="forbid")

    n_epochs: Auto | StrictInt | None = None
    batch_size: Auto | StrictInt | None = None
    learning_rate_multiplier: Auto | Number | None = None


class DpoHyperparameters(Hyperparameters):
    beta: Auto | Number | None = None


class SupervisedMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hyperparameters: Hyperparameters | None = None


class DpoMethod(BaseModel):
    """The SDK nests beta in `hyperparameters`; Azure's DPO REST example puts `beta` (and `l2_multiplier`) right
    under `dpo`, so both are accepted (a value in `hyperparameters` wins)."""

    model_config = ConfigDict(extra="forbid")

    hyperparameters: DpoHyperparameters | None = None
    beta: Auto | Number | None = None
    l2_multiplier: Number | None = None


class Method(BaseModel):
    """Preview/v1 `method`: `{"type": "supervised"|"dpo", "<type>": {"hyperparameters": {...}}}`."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["supervised", "dpo"] = "supervised"
    supervised: SupervisedMethod | None = None
    dpo: DpoMethod | None = None

    def hyperparameters(self) -> dict[str, Any]:
        section = self.supervised if self.type == "supervised" else self.dpo
        if section is None:
            return {}
        nested = section.hyperparameters.model_dump(exclude_none=True) if section.hyperparameters else {}
        if isinstance(section, DpoMethod) and section.beta is not None:
            return {"beta": section.beta, **nested}
        return nested


class JobCreate(BaseModel):
    """POST /fine_tuning/jobs body (GA fields plus preview/v1 `method`, `integrations`, `metadata`)."""

    model_config = ConfigDict(extra="allow")

    model: StrictStr
    training_file: StrictStr
    validation_file: StrictStr | None = None
    hyperparameters: Hyperparameters | None = None
    suffix: StrictStr | None = None
    seed: StrictInt | None = None
    method: Method | None = None
    integrations: list[dict[str, Any]] | None = None
    metadata: dict[StrictStr, StrictStr] | None = None


def invalid(message: str, param: str | None = None, status: int = 400, code: str = "invalidPayload") -> AzureError:
    return AzureError(status, code, message, param=param)


def job_not_found(job_id: str) -> AzureError:
    return AzureError(404, "notFound", f"The fine-tuning job '{job_id}' could not be found.")


def check_auto(value: Any, name: str, *, minimum: float, maximum: float | None = None) -> None:
    if value is None or value == "auto":
        return
    if isinstance(value, str) or isinstance(value, bool) or value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum:g} and {maximum:g}" if maximum is not None else f"at least {minimum:g}"
        raise invalid(f"hyperparameters.{name} must be 'auto' or a number {bound}; got {value!r}.", f"hyperparameters.{name}")


def check_beta(value: Any) -> None:
    """DPO's beta: 'auto' or a number in (0, 2]."""
    if value is None or value == "auto":
        return
    if isinstance(value, (str, bool)) or not 0 < value <= 2:
        raise invalid(f"hyperparameters.beta must be 'auto' or a number greater than 0 and at most 2; got {value!r}.",
                      "method.dpo.hyperparameters.beta")


def _field_path(loc: tuple[Any, ...], body: Any, missing: bool) -> list[str]:
    """The part of a pydantic error location that names fields of the body (not union member tags)."""
    path: list[str] = []
    node = body
    for index, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif missing and index == len(loc) - 1 and isinstance(part, str):
            pass
        else:
            break
        path.append(str(part))
    return path


def _describe(exc: ValidationError, body: Any) -> tuple[str, str | None]:
    """(message, param) for the first invalid field, with every reason pydantic gave for it."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    path = _field_path(first["loc"], body, first["type"] == "missing")
    reasons = [e["msg"] for e in errors if _field_path(e["loc"], body, e["type"] == "missing") == path]
    where = ".".join(path)
    reasons = list(dict.fromkeys(reasons))
    return f"Invalid value for '{where or 'body'}': {'; or '.join(reasons)}.", where or None


def parse_job_request(body: Any) -> JobCreate:
    """The validated body, or Azure's 400 naming the first invalid field with every reason for it."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    try:
        return JobCreate.model_validate(body)
    except ValidationError as exc:
        raise invalid(*_describe(exc, body)) from None
