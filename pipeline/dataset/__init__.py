"""Dataset foundation: offline tokenizer, exact token counts, streaming validation, token stats and cost.

    from pipeline.dataset import validate_files, render_report
    report = validate_files(["datasets/training_set.jsonl", "datasets/validation_set.jsonl"])
    if not report.ok: ...

Error codes are documented in pipeline.dataset.checks (chat format) and pipeline.dataset.preference (preference
format, for DPO); the JSON shape is ValidationReport.model_dump().

The names below are imported on first use, so that `aoai-ft validate` can start scanning before the report's
modules (pydantic models, numpy for the statistics) are loaded: it loads them while a worker already scans.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ReportCache": "cache",
    "ERROR_CODES": "checks", "WARNING_CODES": "checks",
    "DEFAULT_MODEL": "models", "MODELS": "models", "ModelInfo": "models", "model_info": "models",
    "CostEstimate": "pricing", "PriceTable": "pricing", "default_prices": "pricing",
    "estimate_training_cost": "pricing", "load_prices": "pricing",
    "FileReport": "report", "Problem": "report", "TrainingEstimate": "report", "ValidationReport": "report",
    "render_report": "report",
    "Distribution": "stats",
    "DPO_MODELS": "methods", "METHODS": "methods", "PREFERENCE_ERROR_CODES": "preference:ERROR_CODES",
    "require_valid": "validate", "scan_file": "validate", "validate_file": "validate", "validate_files": "validate",
}

__all__ = [
    "DEFAULT_MODEL", "DPO_MODELS", "ERROR_CODES", "METHODS", "MODELS", "PREFERENCE_ERROR_CODES", "WARNING_CODES",
    "CostEstimate", "Distribution", "FileReport",
    "ModelInfo", "PriceTable", "Problem", "ReportCache", "TrainingEstimate", "ValidationReport", "default_prices",
    "estimate_training_cost", "load_prices", "model_info", "render_report", "require_valid", "scan_file", "validate_file",
    "validate_files",
]


def __getattr__(name: str) -> Any:
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attribute = where.partition(":")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from pipeline.dataset.cache import ReportCache
    from pipeline.dataset.checks import ERROR_CODES, WARNING_CODES
    from pipeline.dataset.methods import DPO_MODELS, METHODS
    from pipeline.dataset.preference import ERROR_CODES as PREFERENCE_ERROR_CODES
    from pipeline.dataset.models import DEFAULT_MODEL, MODELS, ModelInfo, model_info
    from pipeline.dataset.pricing import CostEstimate, PriceTable, default_prices, estimate_training_cost, load_prices
    from pipeline.dataset.report import FileReport, Problem, TrainingEstimate, ValidationReport, render_report
    from pipeline.dataset.stats import Distribution
    from pipeline.dataset.validate import require_valid, scan_file, validate_file, validate_files
