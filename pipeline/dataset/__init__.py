"""Dataset foundation: offline tokenizer, exact token counts, streaming validation, token stats and cost.

    from pipeline.dataset import validate_files, render_report
    report = validate_files(["datasets/training_set.jsonl", "datasets/validation_set.jsonl"])
    if not report.ok: ...

Error codes are documented in pipeline.dataset.checks (chat format) and pipeline.dataset.preference (preference
format, for DPO); the JSON shape is ValidationReport.model_dump().
"""
from pipeline.dataset.cache import ReportCache
from pipeline.dataset.checks import ERROR_CODES, WARNING_CODES
from pipeline.dataset.methods import DPO_MODELS, METHODS
from pipeline.dataset.preference import ERROR_CODES as PREFERENCE_ERROR_CODES
from pipeline.dataset.models import DEFAULT_MODEL, MODELS, ModelInfo, model_info
from pipeline.dataset.pricing import CostEstimate, PriceTable, default_prices, estimate_training_cost, load_prices
from pipeline.dataset.report import FileReport, Problem, TrainingEstimate, ValidationReport, render_report
from pipeline.dataset.stats import Distribution
from pipeline.dataset.validate import require_valid, scan_file, validate_file, validate_files

__all__ = [
    "DEFAULT_MODEL", "DPO_MODELS", "ERROR_CODES", "METHODS", "MODELS", "PREFERENCE_ERROR_CODES", "WARNING_CODES", "CostEstimate", "Distribution", "FileReport",
    "ModelInfo", "PriceTable", "Problem", "ReportCache", "TrainingEstimate", "ValidationReport", "default_prices",
    "estimate_training_cost", "load_prices", "model_info", "render_report", "require_valid", "scan_file", "validate_file",
    "validate_files",
]
