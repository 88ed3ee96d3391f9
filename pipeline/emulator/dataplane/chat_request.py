"""The chat-completions request, checked as the service checks it, with OpenAI's wording and error codes.

Azure answers 400 (`type: invalid_request_error`, `param`, `code`) for: `max_tokens`/`max_completion_tokens`
below 1 or above the model's output limit, `n` outside 1..128, `temperature` outside [0, 2], `top_p` outside
[0, 1], messages that are not objects or have no valid role, and a prompt longer than the context window.
Bounding `n` and `max_tokens` is also what keeps one request from making the emulator build a huge answer.
"""
from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from pipeline.emulator.errors import AzureError
from pipeline.emulator.models import MAX_CONTEXT_TOKENS, MAX_OUTPUT_TOKENS

Number = Union[StrictInt, StrictFloat]
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: StrictStr | list[dict[str, Any]] | None = None
    name: StrictStr | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    messages: list[ChatMessage] = Field(min_length=1)
    model: StrictStr | None = None
    max_tokens: StrictInt | None = Field(None, ge=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=1)
    n: StrictInt | None = Field(None, ge=1, le=128)
    temperature: Number | None = Field(None, ge=0, le=2)
    top_p: Number | None = Field(None, ge=0, le=1)
    stream: StrictBool | None = None

    @property
    def output_limit(self) -> tuple[str, int] | None:
        """(parameter name, value) of the completion-token cap the caller set, if any."""
        if self.max_completion_tokens is not None:
            return "max_completion_tokens", self.max_completion_tokens
        if self.max_tokens is not None:
            return "max_tokens", self.max_tokens
        return None


def invalid_request(message: str, param: str | None, code: str | None) -> AzureError:
    return AzureError(400, code or "invalid_value", message, param=param, extra={"type": "invalid_request_error"})


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("int", "float", "str", "bool", "list[dict[str,any]]", "none") or "[" in str(part):
            break  # a union member's tag, not a field
        else:
            out += ("." if out else "") + str(part)
    return out


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
               float: "a number", type(None): "null"}


def _from_pydantic(exc: ValidationError) -> AzureError:
    first = exc.errors(include_url=False)[0]
    path, kind, got = _path(first["loc"]), first["type"], first.get("input")
    if kind == "missing":
        return invalid_request(f"Missing required parameter: '{path}'.", path, "missing_required_parameter")
    if kind in ("greater_than_equal", "less_than_equal", "too_short"):
        if kind == "too_short":
            return invalid_request(f"Invalid '{path}': empty array. Expected an array with minimum length 1, "
                                   "but got an empty array instead.", path, "empty_array")
        above = kind == "less_than_equal"
        bound = first["ctx"]["le" if above else "ge"]
        number = "integer" if isinstance(got, int) else "decimal"
        side, relation, sign = ("above", "maximum", "<=") if above else ("below", "minimum", ">=")
        return invalid_request(f"Invalid '{path}': {number} {side} {relation} value. Expected a value {sign} "
                               f"{bound:g}, but got {got:g} instead.", path, f"{number}_{side}_{relation[:3]}_value")
    if kind == "literal_error":
        allowed = ", ".join(f"'{r}'" for r in ROLES)
        return invalid_request(f"Invalid value: '{got}'. Supported values are: {allowed}.", path, "invalid_value")
    expected = {"int_type": "an integer", "float_type": "a number", "bool_type": "a boolean",
                "string_type": "a string", "list_type": "an array", "model_type": "an object",
                "dict_type": "an object"}.get(kind, "a valid value")
    shown = _JSON_TYPES.get(type(got), "a value")
    return invalid_request(f"Invalid type for '{path}': expected {expected}, but got {shown} instead.", path,
                           "invalid_type")


def parse_chat_request(body: dict[str, Any]) -> ChatRequest:
    try:
        request = ChatRequest.model_validate(body)
    except ValidationError as exc:
        raise _from_pydantic(exc) from None
    limit = request.output_limit
    if limit is not None and limit[1] > MAX_OUTPUT_TOKENS:
        name, value = limit
        raise invalid_request(f"{name} is too large: {value}. This model supports at most {MAX_OUTPUT_TOKENS} "
                              f"completion tokens, whereas you provided {value}.", name, "invalid_value")
    return request


def check_context(prompt_tokens: int, request: ChatRequest) -> None:
    """A prompt (plus the completion it asks room for) longer than the context window is refused, not answered."""
    completion = request.output_limit[1] if request.output_limit else 0
    if prompt_tokens + completion <= MAX_CONTEXT_TOKENS:
        return
    if completion:
        detail = (f"However, you requested {prompt_tokens + completion} tokens ({prompt_tokens} in the messages, "
                  f"{completion} in the completion). Please reduce the length of the messages or completion.")
    else:
        detail = (f"However, your messages resulted in {prompt_tokens} tokens. Please reduce the length of the "
                  "messages.")
    raise invalid_request(f"This model's maximum context length is {MAX_CONTEXT_TOKENS} tokens. {detail}",
                          "messages", "context_length_exceeded")
