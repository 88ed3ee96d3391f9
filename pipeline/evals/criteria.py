"""Testing criteria from a short text (stack config `evalCriteria`, `aoai-ft eval --criteria`).

Comma-separated, each `KIND[@GRADER][:OPERATION][>=THRESHOLD]`:

    fuzzy_match>=0.6          text_similarity, rapidfuzz fuzzy match of answer and reference
    bleu>=0.3 | rouge_1>=0.5 .. rouge_5 | rouge_l>=0.4
    string_check:eq           the answer equals the reference (also ne, like = contains, ilike = contains, any case)
    score_model@gpt-4o>=0.7   the deployment gpt-4o grades the answer against the reference (score 0..1)

A JSON list of testing criteria in the API's own shape is accepted as is, for anything the short form cannot say.
"""
from __future__ import annotations

import json
import re
from typing import Any, Final

from pipeline.errors import UsageError

DEFAULT_CRITERIA: Final = "fuzzy_match>=0.6"
SIMILARITY: Final = ("fuzzy_match", "bleu", "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l")
OPERATIONS: Final = ("eq", "ne", "like", "ilike")
ANSWER: Final = "{{sample.output_text}}"
REFERENCE: Final = "{{item.reference}}"
GRADER_PROMPT: Final = (
    "You grade an assistant's answer to a question against a reference answer. Score 1 when the answer says what "
    "the reference says (wording may differ), 0 when it is wrong, off-topic or empty, and in between for a partly "
    "right answer. Reply with the score only."
)
_TERM = re.compile(r"^(?P<kind>[a-z_0-9]+)(?:@(?P<grader>[A-Za-z0-9._-]+))?(?::(?P<op>[a-z]+))?"
                   r"(?:>=(?P<threshold>[0-9]*\.?[0-9]+))?$")
HINT: Final = "e.g. fuzzy_match>=0.6,rouge_l>=0.4 or string_check:ilike or score_model@<grader deployment>>=0.7"


def parse_criteria(text: str) -> list[dict[str, Any]]:
    """The testing criteria `text` names; a `UsageError` naming the bad part otherwise."""
    text = (text or "").strip() or DEFAULT_CRITERIA
    if text.startswith("["):
        return _from_json(text)
    criteria = [_term(part.strip()) for part in text.split(",") if part.strip()]
    names = [c["name"] for c in criteria]
    if len(set(names)) != len(names):
        raise UsageError(f"evaluation criteria {text!r} name the same criterion twice", hint=HINT)
    return criteria


def _term(part: str) -> dict[str, Any]:
    match = _TERM.match(part)
    if match is None:
        raise UsageError(f"evaluation criterion {part!r} is not KIND[@GRADER][:OPERATION][>=THRESHOLD]", hint=HINT)
    kind, grader, op, threshold = match["kind"], match["grader"], match["op"], match["threshold"]
    value = float(threshold) if threshold is not None else None
    if kind in SIMILARITY:
        if value is None or grader or op:
            raise UsageError(f"evaluation criterion {part!r}: {kind} needs a pass threshold and nothing else, "
                             f"e.g. {kind}>=0.5", hint=HINT)
        return {"type": "text_similarity", "name": kind, "input": ANSWER, "reference": REFERENCE,
                "evaluation_metric": kind, "pass_threshold": _unit(value, part)}
    if kind == "string_check":
        if op not in OPERATIONS or grader or value is not None:
            raise UsageError(f"evaluation criterion {part!r}: string_check needs an operation, one of "
                             f"{', '.join(OPERATIONS)} (e.g. string_check:ilike)", hint=HINT)
        return {"type": "string_check", "name": f"string_check_{op}", "input": ANSWER, "reference": REFERENCE,
                "operation": op}
    if kind == "score_model":
        if not grader or op:
            raise UsageError(f"evaluation criterion {part!r}: score_model needs its grader deployment, "
                             "e.g. score_model@gpt-4o>=0.7", hint=HINT)
        return {"type": "score_model", "name": f"score_model_{grader}", "model": grader, "range": [0, 1],
                "pass_threshold": _unit(value if value is not None else 0.5, part),
                "input": [{"role": "system", "content": GRADER_PROMPT},
                          {"role": "user", "content": f"Question: {{{{item.question}}}}\nReference answer: "
                                                      f"{REFERENCE}\nAnswer to grade: {ANSWER}"}]}
    raise UsageError(f"evaluation criterion {part!r}: unknown kind {kind!r}; use one of "
                     f"{', '.join((*SIMILARITY, 'string_check', 'score_model'))}", hint=HINT)


def _unit(value: float, part: str) -> float:
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"evaluation criterion {part!r}: the threshold must be between 0 and 1", hint=HINT)
    return value


def _from_json(text: str) -> list[dict[str, Any]]:
    try:
        criteria = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"evaluation criteria look like JSON but are not valid JSON ({exc.msg})", hint=HINT) from None
    if (not isinstance(criteria, list) or not criteria
            or not all(isinstance(c, dict) and c.get("type") and c.get("name") for c in criteria)):
        raise UsageError("evaluation criteria in JSON must be a non-empty list of objects with 'type' and 'name'",
                         hint=HINT)
    return criteria
