"""The quality bar and the criteria text: what passes, what is refused, and how it is said."""
from __future__ import annotations

import pytest

from pipeline import envnames
from pipeline.errors import UsageError
from pipeline.evals import EvalFigures, QualityBar, QualityGateFailed, check_quality, figures_from_outputs
from pipeline.evals.criteria import parse_criteria


def test_default_bar_needs_ten_points_over_the_base() -> None:
    bar = QualityBar()
    assert bar.shortfalls(EvalFigures(pass_rate=0.75, base_pass_rate=0.0)) == []
    (missed,) = bar.shortfalls(EvalFigures(pass_rate=0.06, base_pass_rate=0.0))
    assert "improvement over the base model +6% points (6% vs 0%) is below the minimum +10%" == missed


def test_both_bars_are_named_with_the_figures() -> None:
    bar = QualityBar(min_pass_rate=0.8, min_improvement=0.5)
    with pytest.raises(QualityGateFailed) as info:
        check_quality(EvalFigures(pass_rate=0.5, base_pass_rate=0.25, run_id="evalrun_1"), bar, subject="stack dev",
                      hint="retrain")
    text = str(info.value)
    assert "stack dev is below the quality bar" in text and "pass rate 50% is below the minimum 80%" in text
    assert "+25% points (50% vs 25%)" in text and "evalrun_1" in text and "hint: retrain" in text


def test_no_figures_is_refused_unless_the_bar_is_off() -> None:
    with pytest.raises(QualityGateFailed, match="has no recorded evaluation"):
        check_quality(None, QualityBar(), subject="stack dev", hint="h")
    check_quality(None, QualityBar(min_pass_rate=None, min_improvement=None), subject="stack dev", hint="h")


def test_figures_from_stack_outputs() -> None:
    outputs = {envnames.EVAL_PASS_RATE: 0.75, envnames.EVAL_BASE_PASS_RATE: 0.0, envnames.EVAL_RUN_ID: "evalrun_x"}
    assert figures_from_outputs(outputs) == EvalFigures(pass_rate=0.75, base_pass_rate=0.0, run_id="evalrun_x")
    assert figures_from_outputs({}) is None
    assert figures_from_outputs({envnames.EVAL_PASS_RATE: "nonsense"}) is None


def test_criteria_short_form_becomes_the_api_shape() -> None:
    fuzzy, rouge, check, judge = parse_criteria("fuzzy_match>=0.6, rouge_l>=0.4,string_check:ilike,score_model@gpt-4o>=0.7")
    assert fuzzy == {"type": "text_similarity", "name": "fuzzy_match", "input": "{{sample.output_text}}",
                     "reference": "{{item.reference}}", "evaluation_metric": "fuzzy_match", "pass_threshold": 0.6}
    assert rouge["evaluation_metric"] == "rouge_l" and check["operation"] == "ilike"
    assert judge["model"] == "gpt-4o" and judge["pass_threshold"] == 0.7 and "{{item.reference}}" in judge["input"][1]["content"]
    assert parse_criteria("") == parse_criteria("fuzzy_match>=0.6")
    assert parse_criteria('[{"type": "string_check", "name": "x"}]') == [{"type": "string_check", "name": "x"}]


@pytest.mark.parametrize(("text", "message"), [
    ("fuzzy_match>=0.6,fuzzy_match>=0.7", "same criterion twice"),
    ("score_model>=0.5", "needs its grader deployment"),
    ("string_check", "needs an operation"),
    ("bleu=0.3", "is not KIND"),
    ("[oops", "not valid JSON"),
])
def test_bad_criteria_name_the_part_and_the_form(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        parse_criteria(text)
    assert "fuzzy_match>=0.6" in (info.value.hint or "")
