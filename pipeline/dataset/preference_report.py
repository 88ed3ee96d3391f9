"""A preference (DPO) file's report, and the format checks shared by both methods: the part of `validate_file`
that depends on the training method. Reports here are plain data (pipeline.dataset.report_data): no pydantic."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.dataset import report_data
from pipeline.dataset.billing import default_epochs
from pipeline.dataset.counting import get_counter
from pipeline.dataset.methods import supports, unsupported_message
from pipeline.dataset.models import model_info
from pipeline.dataset.preference import Formats, format_problems, scan_preference
from pipeline.dataset.report_data import Found, distribution


def _sorted(items: list[Found]) -> list[Found]:
    """File-level problems first, then by line (the scan's order within a line is kept)."""
    return sorted(items, key=lambda p: -1 if p[0] is None else p[0])


def _file_level(size: int, examples: int) -> list[Found]:
    """Size and example-count problems, by the same limits as chat files."""
    from pipeline.dataset.validate import MAX_FILE_BYTES, MIN_EXAMPLES

    found: list[Found] = []
    if size > MAX_FILE_BYTES:
        found.append((None, "file_too_large", f"{size / 2**20:,.0f} MB, over the 512 MB upload limit; split the file"))
    if examples < MIN_EXAMPLES:
        found.append((None, "too_few_examples", f"{examples:,} example(s); fine-tuning needs at least {MIN_EXAMPLES:,}"))
    return found


def preference_report(path: Path, readable: Path, *, model: str, n_epochs: int | None,
                      formats: Formats) -> dict[str, Any]:
    """Validate `readable` (a seekable copy of `path`) as a preference file: its `FileReport` as data."""
    info = model_info(model)
    size = readable.stat().st_size
    scan = scan_preference(readable, get_counter(info.encoding, text_bytes=size), info.token_limit)
    pairs = tuple(scan.pair_lines) if scan.chat_lines else ()  # only a mixed file needs them listed
    formats = Formats("dpo", tuple(scan.chat_lines), pairs, formats.explicit)
    found = _file_level(size, scan.examples) + with_format_errors(scan.errors, formats)
    epochs = n_epochs or default_epochs(scan.examples)
    return report_data.file_report(
        str(path), method="dpo", examples=scan.examples, errors=_sorted(found), warnings=scan.warnings,
        tokens=report_data.token_stats(total=distribution(scan.sequences), input=distribution(scan.inputs),
                                       preferred=distribution(scan.preferred),
                                       non_preferred=distribution(scan.non_preferred)),
        epochs=epochs, billed_tokens=scan.billed_tokens(info.token_limit, epochs),
    )


def with_format_errors(errors: list[Found], formats: Formats) -> list[Found]:
    """`errors` with each line in the other format reported once, as `format_mismatch` (plus `mixed_formats`)."""
    extra, lines = format_problems(formats)
    if not extra:
        return errors
    kept = [p for p in errors if p[0] not in lines]
    return _sorted(extra + kept)


def check_model_supports(report: dict[str, Any], model: str) -> dict[str, Any]:
    """The training file's report (data) with `method_not_supported` when `model` cannot train with its method."""
    if supports(report["method"], model):
        return report
    problem = {"line": None, "code": "method_not_supported",
               "message": unsupported_message(report["method"], model) + "; pass one with --model"}
    counts = {"method_not_supported": 1, **report["error_counts"]}
    return {**report, "ok": False, "errors": [problem, *report["errors"]], "error_counts": counts}
