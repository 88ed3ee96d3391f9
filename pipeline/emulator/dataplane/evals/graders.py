"""Testing criteria: checked when an eval is created, applied to every sample of a run.

- `string_check`: eq / ne / like (reference contained, case-sensitive) / ilike (contained, case-insensitive).
- `text_similarity`: fuzzy_match = rapidfuzz's normalized Levenshtein similarity (`fuzz.ratio` on lower-cased,
  punctuation-free text; the service documents only "a rapidfuzz fuzzy match", not which function), bleu =
  sacrebleu's sentence BLEU / 100, rouge_1..rouge_5 / rouge_l = the rouge-score package's F-measure. The
  libraries are imported on first use, so the emulator starts without them until an eval needs them.
- `score_model`: the grader deployment is asked through the emulator's own chat (it must exist and be serving,
  and its tokens are counted). The emulator cannot read a rubric, so its grader model's judgment is fixed: how
  closely the answer matches the item fields the grader's messages show it, leaving out fields that were also
  sent to the model under test (the question): rapidfuzz `token_sort_ratio` / 100, scaled to `range`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Final

from pipeline.emulator.errors import AzureError
from pipeline.emulator.dataplane.evals import templates

STRING_OPERATIONS: Final = ("eq", "ne", "like", "ilike")
ROUGE: Final = {"rouge_1": "rouge1", "rouge_2": "rouge2", "rouge_3": "rouge3", "rouge_4": "rouge4",
                "rouge_5": "rouge5", "rouge_l": "rougeL"}
METRICS: Final = ("fuzzy_match", "bleu", *ROUGE)
SERVICE_ONLY_METRICS: Final = ("gleu", "meteor", "cosine")
GRADER_TYPES: Final = ("string_check", "text_similarity", "score_model")


def _bad(message: str, param: str) -> AzureError:
    return AzureError(400, "invalidPayload", message, param=param)


def check_criteria(criteria: Any, item_properties: set[str] | None) -> list[dict[str, Any]]:
    """The testing criteria as stored; 400 naming the first problem."""
    if not isinstance(criteria, list) or not criteria:
        raise _bad("'testing_criteria' must be a non-empty list of graders.", "testing_criteria")
    names: set[str] = set()
    for index, criterion in enumerate(criteria):
        where = f"testing_criteria[{index}]"
        if not isinstance(criterion, dict):
            raise _bad(f"{where} must be an object.", where)
        kind, name = criterion.get("type"), criterion.get("name")
        if kind not in GRADER_TYPES:
            raise _bad(f"{where}.type {kind!r} is not supported here; use one of {', '.join(GRADER_TYPES)}.",
                       f"{where}.type")
        if not isinstance(name, str) or not name.strip():
            raise _bad(f"{where}.name is required.", f"{where}.name")
        if name in names:
            raise _bad(f"{where}.name {name!r} is used by another criterion; names must be unique.", f"{where}.name")
        names.add(name)
        if kind == "score_model":
            _check_score_model(criterion, where, item_properties)
            continue
        for field in ("input", "reference"):
            if not isinstance(criterion.get(field), str):
                raise _bad(f"{where}.{field} must be a template string such as '{{{{sample.output_text}}}}'.",
                           f"{where}.{field}")
            templates.check(criterion[field], f"{where}.{field}", item_properties, sample_allowed=True)
        if kind == "string_check" and criterion.get("operation") not in STRING_OPERATIONS:
            raise _bad(f"{where}.operation must be one of {', '.join(STRING_OPERATIONS)}.", f"{where}.operation")
        if kind == "text_similarity":
            metric = criterion.get("evaluation_metric")
            if metric in SERVICE_ONLY_METRICS:
                raise _bad(f"{where}.evaluation_metric {metric!r} is not available in this emulator; use one of "
                           f"{', '.join(METRICS)}.", f"{where}.evaluation_metric")
            if metric not in METRICS:
                raise _bad(f"{where}.evaluation_metric must be one of {', '.join(METRICS)}.",
                           f"{where}.evaluation_metric")
            _number(criterion, "pass_threshold", where, required=True)
    return criteria


def _check_score_model(criterion: dict[str, Any], where: str, item_properties: set[str] | None) -> None:
    if not isinstance(criterion.get("model"), str) or not criterion["model"]:
        raise _bad(f"{where}.model must name the grader deployment.", f"{where}.model")
    messages = criterion.get("input")
    if not isinstance(messages, list) or not messages:
        raise _bad(f"{where}.input must be a non-empty list of messages.", f"{where}.input")
    for position, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "developer", "user", "assistant"):
            raise _bad(f"{where}.input[{position}] must be a message with a role.", f"{where}.input")
        templates.check(templates.content_text(message.get("content")), f"{where}.input[{position}]",
                        item_properties, sample_allowed=True)
    span = criterion.get("range", [0, 1])
    if (not isinstance(span, list) or len(span) != 2 or not all(isinstance(v, (int, float)) for v in span)
            or span[0] >= span[1]):
        raise _bad(f"{where}.range must be [low, high] with low < high.", f"{where}.range")
    _number(criterion, "pass_threshold", where, required=False)


def _number(criterion: dict[str, Any], key: str, where: str, *, required: bool) -> None:
    value = criterion.get(key)
    if value is None and not required:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _bad(f"{where}.{key} must be a number.", f"{where}.{key}")


# ----- grading -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Grade:
    """One criterion's verdict on one sample (`error` set when it could not grade)."""

    name: str
    type: str
    passed: bool
    score: float
    error: str | None = None

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "type": self.type, "passed": self.passed, "score": self.score,
                                "sample": None}
        if self.error:
            body["error"] = self.error
        return body


JudgeCall = Callable[[str, list[dict[str, str]]], str | None]
"""(grader deployment, rendered messages) -> None when it answered, or an error text (missing deployment...)."""


def grade(criterion: dict[str, Any], scope: dict[str, Any], model_input: str, judge: JudgeCall) -> Grade:
    """Apply one criterion to one sample; `scope` holds `item` and `sample` (with `output_text`)."""
    kind, name = criterion["type"], criterion["name"]
    if kind == "score_model":
        return _score_model(criterion, scope, model_input, judge)
    given = templates.render(criterion["input"], scope)
    reference = templates.render(criterion["reference"], scope)
    if kind == "string_check":
        passed = _string_check(criterion["operation"], given, reference)
        return Grade(name, kind, passed, 1.0 if passed else 0.0)
    score = round(similarity(criterion["evaluation_metric"], given, reference), 4)
    return Grade(name, kind, score >= float(criterion["pass_threshold"]), score)


def _string_check(operation: str, given: str, reference: str) -> bool:
    return {"eq": given == reference, "ne": given != reference, "like": reference in given,
            "ilike": reference.lower() in given.lower()}[operation]


def similarity(metric: str, given: str, reference: str) -> float:
    """Score in [0, 1] of `given` against `reference` by one text_similarity metric."""
    if metric == "fuzzy_match":
        from rapidfuzz import fuzz, utils

        return fuzz.ratio(given, reference, processor=utils.default_process) / 100
    if metric == "bleu":
        import sacrebleu

        return sacrebleu.sentence_bleu(given, [reference]).score / 100
    return _rouge(ROUGE[metric]).score(reference, given)[ROUGE[metric]].fmeasure


@lru_cache(maxsize=8)
def _rouge(kind: str) -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([kind], use_stemmer=True)


def _score_model(criterion: dict[str, Any], scope: dict[str, Any], model_input: str, judge: JudgeCall) -> Grade:
    name = criterion["name"]
    low, high = (float(v) for v in criterion.get("range", [0, 1]))
    messages = [{"role": m["role"], "content": templates.render(templates.content_text(m.get("content")), scope)}
                for m in criterion["input"]]
    error = judge(criterion["model"], messages)
    if error is not None:
        return Grade(name, "score_model", False, low, error)
    shown = {path.split(".", 1)[0] for m in criterion["input"]
             for namespace, path in templates.variables(templates.content_text(m.get("content")))
             if namespace == "item"}
    answer = str(scope["sample"].get("output_text") or "")
    references = [str(scope["item"].get(field)) for field in sorted(shown)
                  if scope["item"].get(field) is not None and str(scope["item"].get(field)) not in model_input]
    from rapidfuzz import fuzz, utils

    closeness = max((fuzz.token_sort_ratio(answer, ref, processor=utils.default_process) / 100 for ref in references),
                    default=0.0)
    score = round(low + (high - low) * closeness, 4)
    threshold = criterion.get("pass_threshold")
    threshold = float(threshold) if threshold is not None else (low + high) / 2
    return Grade(name, "score_model", score >= threshold, score)
