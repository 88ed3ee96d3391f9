"""Chat requests Azure refuses are refused here too (400, OpenAI's wording), through the real SDK, and a refused
`n`/`max_tokens` never makes the emulator build a huge answer."""
from __future__ import annotations

from typing import Any

import openai
import pytest

MODEL = "gpt-4o-mini-2024-07-18"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def chat(emulator, openai_client, deploy):
    deploy(emulator, "base", MODEL)

    def call(**kwargs: Any) -> Any:
        kwargs.setdefault("messages", HELLO)
        return openai_client.with_options(max_retries=0).chat.completions.create(model="base", **kwargs)

    return call


@pytest.mark.parametrize("kwargs, param, code", [
    ({"max_tokens": 0}, "max_tokens", "integer_below_min_value"),
    ({"max_tokens": -5}, "max_tokens", "integer_below_min_value"),
    ({"max_tokens": 10**9}, "max_tokens", "invalid_value"),
    ({"max_completion_tokens": 100_000}, "max_completion_tokens", "invalid_value"),
    ({"n": 0}, "n", "integer_below_min_value"),
    ({"n": 129}, "n", "integer_above_max_value"),
    ({"n": 200_000}, "n", "integer_above_max_value"),
    ({"temperature": 2.5}, "temperature", "decimal_above_max_value"),
    ({"temperature": -0.1}, "temperature", "decimal_below_min_value"),
    ({"top_p": 1.5}, "top_p", "decimal_above_max_value"),
    ({"messages": ["hello"]}, "messages[0]", "invalid_type"),
    ({"messages": [{"content": "hello"}]}, "messages[0].role", "missing_required_parameter"),
    ({"messages": [{"role": "wizard", "content": "hello"}]}, "messages[0].role", "invalid_value"),
    ({"messages": []}, "messages", "empty_array"),
    ({"messages": [{"role": "user", "content": "word " * 130_000}]}, "messages", "context_length_exceeded"),
    ({"messages": [{"role": "user", "content": "word " * 120_000}], "max_tokens": 16_000}, "messages",
     "context_length_exceeded"),
])
def test_refused_with_400(chat, kwargs: dict[str, Any], param: str, code: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        chat(**kwargs)
    error = info.value.body
    assert error["param"] == param and error["code"] == code, error
    assert error["type"] == "invalid_request_error" and error["message"]


@pytest.mark.parametrize("kwargs", [{"n": 128, "max_tokens": 5}, {"temperature": 0}, {"temperature": 2},
                                    {"max_tokens": 16_384}, {"top_p": 1}])
def test_edges_are_accepted(chat, kwargs: dict[str, Any]) -> None:
    answer = chat(**kwargs)
    assert len(answer.choices) == kwargs.get("n", 1)
