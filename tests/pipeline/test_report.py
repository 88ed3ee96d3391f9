"""Results CSV parsing in every shape the service has used, the loss PNG, and the written report."""
from __future__ import annotations

import base64
import json
import struct

import pytest

from pipeline.errors import PipelineError, ServiceError, UsageError
from pipeline.report import (AnswerPair, final_metrics, parse_results_csv, plot_losses, validation_questions,
                             write_report)

CSV = """step,train_loss,train_mean_token_accuracy,valid_loss,valid_mean_token_accuracy,full_valid_loss,full_valid_mean_token_accuracy
1,2.5,0.40,2.7,0.38,,
2,2.1,0.45,,,,
3,1.7,0.52,1.9,0.50,1.85,0.51
"""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_parses_rows_with_empty_cells() -> None:
    rows = parse_results_csv(CSV)
    assert [r.step for r in rows] == [1, 2, 3]
    assert rows[1].valid_loss is None and rows[1].train_loss == 2.1
    assert rows[2].full_valid_loss == 1.85


def test_docs_spelling_and_five_columns_and_bom() -> None:
    text = "\ufeffstep,train_loss,train_mean_token_accuracy,valid_loss,validation_mean_token_accuracy\n5,1.0,0.6,1.2,0.55\n"
    (row,) = parse_results_csv(text.encode("utf-8"))
    assert row.valid_mean_token_accuracy == 0.55 and row.full_valid_loss is None


def test_base64_content_is_decoded() -> None:
    encoded = base64.b64encode(CSV.encode()).decode()
    assert parse_results_csv(encoded) == parse_results_csv(CSV)
    assert parse_results_csv(encoded.encode()) == parse_results_csv(CSV)


def test_not_a_results_file() -> None:
    with pytest.raises(ServiceError):
        parse_results_csv("a,b\n1,2\n")


def test_final_metrics_take_last_reported_values() -> None:
    final = final_metrics(parse_results_csv(CSV))
    assert final.steps == 3 and final.train_loss == 1.7 and final.valid_loss == 1.9
    rows = parse_results_csv(CSV)[:2]
    assert final_metrics(rows).valid_loss == 2.7  # step 2 has none: keep step 1's


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


def test_plot_is_a_real_png(tmp_path) -> None:
    png = plot_losses(parse_results_csv(CSV), tmp_path / "plots" / "loss.png")
    assert _png_size(png) == (800, 450)
    assert png.stat().st_size > 5_000
    with pytest.raises(PipelineError):
        plot_losses([], tmp_path / "empty.png")


def test_validation_questions_are_last_user_messages(tmp_path, datasets_dir) -> None:
    path = tmp_path / "v.jsonl"
    path.write_text("\n".join(json.dumps({"messages": m}) for m in [
        [{"role": "system", "content": "s"}, {"role": "user", "content": "q1"}, {"role": "assistant", "content": "a"}],
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}, {"role": "user", "content": "q2"},
         {"role": "assistant", "content": "z"}],
    ]) + "\n")
    assert validation_questions(path) == ["q1", "q2"]
    assert validation_questions(path, limit=1) == ["q1"]
    assert len(validation_questions(datasets_dir / "validation_set.jsonl")) >= 1
    path.write_text("{broken\n")
    with pytest.raises(UsageError):
        validation_questions(path)


def test_write_report(tmp_path) -> None:
    pairs = [AnswerPair(question="What is AI?", base="generic | text", fine_tuned="teacher answer")]
    files = write_report(tmp_path / "r", job_id="ftjob-1", rows=parse_results_csv(CSV), comparisons=pairs,
                         fine_tuned_model="m.ft-1")
    assert files.loss_png.read_bytes()[:8] == PNG_MAGIC
    metrics = json.loads(files.metrics_json.read_text())
    assert metrics["final"]["train_loss"] == 1.7 and metrics["comparisons"][0]["base"] == "generic | text"
    md = files.markdown.read_text()
    assert "| train_loss | 1.7000 |" in md and "generic \\| text" in md and "![loss curves](loss.png)" in md
