"""The per-line checks and token counting, over one byte range of a JSONL file, in one streaming pass.

Error codes (stable; `line` is the 1-based physical line number):

    invalid_json                      the line is not JSON
    invalid_encoding                  the line is not UTF-8
    data_type                         the line (or a message) is not a JSON object
    missing_messages_list             no "messages" list
    message_missing_key               a message has no "role" (or no "content" where one is required)
    message_unrecognized_key          a message key outside role/content/name/weight/tool_calls/tool_call_id/function_call
    unrecognized_role                 role is not system/user/assistant/tool/function
    missing_content                   content is null/empty/not a string (null is fine on assistant tool calls)
    example_missing_assistant_message no assistant message in the example
    invalid_weight                    weight other than 0/1, or weight on a non-assistant message
    example_too_long                  the example's token count is over the model's limit, or the line is
                                      longer in bytes than any example within that limit can be (found
                                      while streaming, without holding the line in memory)
    too_few_examples, file_too_large  file-level (line null), added by pipeline.dataset.validate

Warnings (do not fail): utf8_bom (leading BOM accepted), special_token_text (`<|endoftext|>` & co. counted
as text), lone_surrogate (a `\\udXXX` escape without its pair; counted as U+FFFD like tiktoken does).
Blank lines are skipped: not examples, not errors.

Token counts follow the lab's formula exactly: +3 per message, + tokens of every string value of every key,
+1 for a `name` key, +3 reply priming per example; assistant tokens = tokens of assistant `content`.
Only examples without errors (other than example_too_long) enter the counts.
"""
from __future__ import annotations

import json
import re
from array import array
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.dataset.counting import TokenCounter

ROLES = frozenset({"system", "user", "assistant", "tool", "function"})
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"})
ERROR_CODES = (
    "invalid_json", "invalid_encoding", "data_type", "missing_messages_list", "message_missing_key",
    "message_unrecognized_key", "unrecognized_role", "missing_content", "example_missing_assistant_message",
    "invalid_weight", "example_too_long", "too_few_examples", "file_too_large",
)
WARNING_CODES = ("utf8_bom", "special_token_text", "lone_surrogate")
BOM = b"\xef\xbb\xbf"
_MEMO_MAX = 4096  # role strings, names, system prompts repeat; bounded so unique ids cannot grow it

# A \uD800-\uDBFF escape not followed by a low one, or a \uDC00-\uDFFF escape not preceded by a high one.
_LONE_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)

Problem = tuple[int, str, str]  # (line, code, message); compact because a bad file can have many

# No o200k/cl100k token is longer than 128 bytes of text, and JSON spells a byte in at most 6 (`\u00XX`), so
# an example within the token limit fits in token_limit * 768 bytes plus its keys and punctuation.
MAX_TOKEN_BYTES = 128
MAX_ESCAPED_BYTES_PER_BYTE = 6
LINE_SLACK_BYTES = 1 << 20
SKIP_CHUNK = 1 << 20
READ_BUFFER = 1 << 16  # for streaming reads: the default (the file system's 4 KB block) takes 3x the system time


def max_line_bytes(token_limit: int) -> int:
    """The longest line that can hold an example of at most `token_limit` tokens."""
    return token_limit * MAX_TOKEN_BYTES * MAX_ESCAPED_BYTES_PER_BYTE + LINE_SLACK_BYTES


def skip_rest_of_line(stream: Any) -> int:
    """Read to just past the next newline (or EOF) in bounded chunks; the number of bytes consumed."""
    consumed = 0
    while True:
        chunk = stream.readline(SKIP_CHUNK)
        consumed += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return consumed


@dataclass
class ScanResult:
    """What one pass over a byte range found. Line numbers are relative to the range's first line."""

    lines: int = 0
    examples: int = 0
    totals: array = field(default_factory=lambda: array("q"))  # per counted example
    assistants: array = field(default_factory=lambda: array("q"))
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def extend(self, later: ScanResult) -> None:
        """Append the scan of the range that follows this one, shifting its line numbers."""
        shift = self.lines
        self.errors.extend((line + shift, code, msg) for line, code, msg in later.errors)
        self.warnings.extend((line + shift, code, msg) for line, code, msg in later.warnings)
        self.totals.extend(later.totals)
        self.assistants.extend(later.assistants)
        self.lines += later.lines
        self.examples += later.examples


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


class _Unparsed:
    """Sentinels for lines the slow path could not turn into an example."""


_BLANK = _Unparsed()
_FAILED = _Unparsed()


def _parse_slow(raw: bytes, line: int, result: ScanResult) -> Any:
    """orjson refused the line: find out why (blank, not UTF-8, not JSON) or parse it with the stdlib,
    which, like the lab's json.loads, accepts lone surrogate escapes, NaN and huge integers."""
    if not raw.strip():
        return _BLANK
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        result.errors.append((line, "invalid_encoding",
                              f"byte {exc.start + 1} ({raw[exc.start:exc.start + 1]!r}) is not valid UTF-8; save the file as UTF-8"))
        return _FAILED
    try:
        value = json.loads(text.rstrip("\r\n"))  # keeps the error column on this line
    except json.JSONDecodeError as exc:
        result.errors.append((line, "invalid_json", f"{exc.msg} at column {exc.colno}; each line must be one complete JSON object"))
        return _FAILED
    except RecursionError:
        result.errors.append((line, "invalid_json", "nested too deeply to parse"))
        return _FAILED
    if _LONE_SURROGATE.search(text):
        result.warnings.append((line, "lone_surrogate",
                                "a \\uD800-\\uDFFF escape without its pair; counted as U+FFFD, like tiktoken does"))
    return value


def _content_problem(message: dict[str, Any], role: Any, index: int) -> Problem | None:
    """Why this message's content is not acceptable, or None. Only called off the fast path."""
    content = message.get("content", _BLANK)
    has_call = message.get("tool_calls") or message.get("function_call")
    if role == "assistant" and has_call and (content is None or content is _BLANK or type(content) is str):
        return None
    if type(content) is str and content:
        return None
    if content is _BLANK:
        return (0, "message_missing_key", f"message {index} ({role}) has no 'content' key")
    if type(content) is str:
        return (0, "missing_content", f"message {index} ({role}) has empty content; write the text or drop the message")
    if content is None:
        return (0, "missing_content", f"message {index} ({role}) has null content; only assistant tool/function calls may")
    return (0, "missing_content", f"message {index} ({role}) content must be a string, got {_json_type(content)}")


def _message_problems(message: dict[str, Any], role: Any, index: int) -> list[Problem]:
    """All structural problems of one message (slow path; the fast path only detects that there is one)."""
    found: list[Problem] = []
    if "role" not in message:
        found.append((0, "message_missing_key", f"message {index} has no 'role' key"))
    elif type(role) is not str or role not in ROLES:
        found.append((0, "unrecognized_role", f"message {index} has role {role!r}; use one of {', '.join(sorted(ROLES))}"))
    unknown = sorted(str(k) for k in message if k not in MESSAGE_KEYS)
    if unknown:
        found.append((0, "message_unrecognized_key",
                      f"message {index} has unrecognized key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(MESSAGE_KEYS))}"))
    problem = _content_problem(message, role, index)
    if problem:
        found.append(problem)
    if "weight" in message:
        weight = message["weight"]
        if role != "assistant":
            found.append((0, "invalid_weight", f"message {index} ({role}) has a weight; only assistant messages may"))
        elif type(weight) not in (int, float) or weight not in (0, 1):
            found.append((0, "invalid_weight", f"message {index} has weight {weight!r}; use 0 or 1"))
    return found


def read_long_line(stream: Any, first: bytes, limit: int) -> tuple[bytes | None, int]:
    """The line that begins with `first` (SKIP_CHUNK bytes without a newline): (its bytes, its size) if it is at
    most `limit` bytes long, else (None, its size). Its length is measured first by reading on in SKIP_CHUNK
    pieces that are dropped at once, so a line of hundreds of MB costs one piece of memory; only a line within
    the bound is then read again, whole."""
    start = stream.tell() - len(first)
    size = len(first) + skip_rest_of_line(stream)
    if size > limit:
        return None, size
    stream.seek(start)
    return stream.read(size), size


def _count_message(message: dict[str, Any], index: int, line: int, counter: TokenCounter, memo: dict[str, int],
                   result: ScanResult, warn_special: bool) -> tuple[int, int, bool]:
    """(tokens, assistant tokens, special-token warning given) of a message off the fast path: any keys, any
    value types; its problems go to `result`."""
    role = message.get("role")
    total = 3
    assistant = 0
    for key, value in message.items():
        if type(value) is str:
            if warn_special and "<|" in value and counter.special_tokens_in(value):
                warn_special = False
                result.warnings.append((line, "special_token_text",
                                        f"message {index} {key} contains {', '.join(counter.special_tokens_in(value))}; counted as plain text"))
            if key == "content" and role != "system":
                n = counter.count_text(value)
                if role == "assistant":
                    assistant += n
            else:
                n = memo.get(value)
                if n is None:
                    n = counter.count_text(value)
                    if len(memo) < _MEMO_MAX:
                        memo[value] = n
            total += n
        if key == "name":
            total += 1
    content = message.get("content")
    if (
        type(role) is not str
        or role not in ROLES
        or type(content) is not str
        or not content
        or not MESSAGE_KEYS.issuperset(message)
        or "weight" in message
    ):
        result.errors.extend((line, code, msg) for _, code, msg in _message_problems(message, role, index))
    return total, assistant, not warn_special


def scan_range(path: str, start: int, end: int, counter: TokenCounter, token_limit: int, *,
               memo: dict[str, int] | None = None) -> ScanResult:
    """Check and count the lines that start in [start, end) of `path`; `start` must be a line start.
    `memo` (token counts of role strings, names and system prompts) may be shared by the ranges of one process.

    The hot loop keeps to fast checks: a message of exactly a valid role and non-empty string content (no
    `<|`) is counted inline; any other message, and every explanation, goes to helpers that only run on
    unusual or bad data.
    """
    result = ScanResult()
    errors, warnings = result.errors, result.warnings
    totals, assistants = result.totals, result.assistants
    count, count_text = counter.count, counter.count_text
    memo = {} if memo is None else memo
    per_role = {role: 3 + count_text(role) for role in ROLES}  # +3 per message, + the role string's tokens
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    line = 0
    examples = 0
    pos = start
    limit = max_line_bytes(token_limit)
    with open(path, "rb", buffering=READ_BUFFER) as stream:
        stream.seek(start)
        readline = stream.readline
        while pos < end:
            raw = readline(SKIP_CHUNK)
            if not raw:
                break
            line += 1
            if len(raw) == SKIP_CHUNK and raw[-1] != 10:  # a long line: measure it before holding it
                whole, size = read_long_line(stream, raw, limit)
                pos += size
                if whole is None:
                    examples += 1
                    errors.append((line, "example_too_long",
                                   f"the line is {size:,} bytes, longer than any example within the model's limit "
                                   f"of {token_limit:,} tokens can be; shorten or split the example"))
                    continue
                raw = whole
            else:
                pos += len(raw)
            if line == 1 and start == 0 and raw.startswith(BOM):
                raw = raw[3:]
                warnings.append((1, "utf8_bom", "the file starts with a UTF-8 byte order mark; accepted"))
            try:
                example = loads(raw)
            except decode_error:
                example = _parse_slow(raw, line, result)
                if example is _BLANK:
                    continue
                if example is _FAILED:
                    examples += 1
                    continue
            examples += 1
            if type(example) is not dict:
                errors.append((line, "data_type", f"each line must be a JSON object, got {_json_type(example)}"))
                continue
            messages = example.get("messages")
            if type(messages) is not list:
                detail = "no 'messages' key" if "messages" not in example else f"'messages' is {_json_type(messages)}"
                errors.append((line, "missing_messages_list", f"{detail}; each line needs a \"messages\": [...] list"))
                continue
            n_errors = len(errors)
            total = 3
            assistant = 0
            has_assistant = False
            warn_special = True
            index = 0
            for message in messages:
                index += 1
                if type(message) is dict and len(message) == 2:
                    role = message.get("role")
                    content = message.get("content")
                    if type(role) is str and type(content) is str and content and "<|" not in content:
                        tokens = per_role.get(role)
                        if tokens is not None:
                            if role == "system":
                                n = memo.get(content)
                                if n is None:
                                    n = count_text(content)
                                    if len(memo) < _MEMO_MAX:
                                        memo[content] = n
                            else:
                                try:
                                    n = count(content)
                                except UnicodeEncodeError:
                                    n = count_text(content)
                                if role == "assistant":
                                    assistant += n
                                    has_assistant = True
                            total += tokens + n
                            continue
                elif type(message) is not dict:
                    errors.append((line, "data_type", f"message {index} must be a JSON object, got {_json_type(message)}"))
                    continue
                n, a, warned = _count_message(message, index, line, counter, memo, result, warn_special)
                total += n
                assistant += a
                warn_special = warn_special and not warned
                if message.get("role") == "assistant":
                    has_assistant = True
            if not has_assistant:
                errors.append((line, "example_missing_assistant_message",
                               "no assistant message; every example needs at least one assistant reply to learn from"))
            if len(errors) == n_errors:
                totals.append(total)
                assistants.append(assistant)
                if total > token_limit:
                    errors.append((line, "example_too_long",
                                   f"{total:,} tokens, over the model's limit of {token_limit:,}; shorten or split the example"))
    result.lines = line
    result.examples = examples
    return result
