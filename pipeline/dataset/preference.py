"""The preference (DPO) format: check and count every line, with the same care as the chat format.

One line is one example:

    {"input": {"messages": [...], "tools": [...], "parallel_tool_calls": true},
     "preferred_output": [{"role": "assistant", "content": "..."}],
     "non_preferred_output": [{"role": "assistant", "content": "..."}]}

Error codes (stable; `line` is the 1-based physical line number). Shared with the chat format: invalid_json,
invalid_encoding, data_type, message_missing_key, message_unrecognized_key, unrecognized_role, missing_content,
example_too_long, too_few_examples, file_too_large. The preference format's own:

    missing_input                 no "input" object
    missing_messages_list         "input" has no non-empty "messages" list
    input_missing_user_message    the conversation has no user message to answer
    input_ends_with_assistant     the conversation ends on an assistant turn: the outputs must be the reply to it
    unrecognized_key              a key outside input/preferred_output/non_preferred_output (or, inside "input",
                                  outside messages/tools/parallel_tool_calls)
    invalid_tools                 "tools" is not a list of objects, or parallel_tool_calls is not a boolean
    missing_preferred_output      "preferred_output" absent, not a list, or empty
    missing_non_preferred_output  the same for "non_preferred_output"
    output_message_count          an output holds more than one message (each is one assistant reply)
    output_role_not_assistant     an output message's role is not "assistant"
    identical_outputs             the preferred and non-preferred replies are the same: nothing to learn from
    format_mismatch               a chat-format line in a preference file, or the other way round
    mixed_formats                 file-level: the file mixes chat and preference lines (lists which)
    method_not_supported          file-level: the model cannot be trained with DPO (see pipeline.dataset.methods)

Warnings: utf8_bom, special_token_text, lone_surrogate, as for chat.

Tokens: a DPO example is trained as two sequences, conversation + preferred reply and conversation +
non-preferred reply, each counted with the chat formula (+3 per message, tokens of every string value, +1 per
`name`, +3 reply priming; `tools` count as the tokens of their JSON text). Each sequence must fit the model's
limit. The billed estimate counts both sequences (the conversation twice) x epochs: the budget gate errs on the
side of a higher figure, since Azure does not document how a pair's shared conversation is billed.
"""
from __future__ import annotations

import json
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from pipeline.dataset.billing import billed_tokens
from pipeline.dataset.checks import (
    BOM, MESSAGE_KEYS, READ_BUFFER, ROLES, SKIP_CHUNK, Problem, read_long_line, max_line_bytes, skip_rest_of_line,
)
from pipeline.dataset.counting import TokenCounter

PREFERENCE_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
INPUT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})
OUTPUT_KEYS = frozenset(MESSAGE_KEYS - {"weight"})
INPUT_MESSAGE_KEYS = frozenset(MESSAGE_KEYS - {"weight"})
ERROR_CODES = (
    "invalid_json", "invalid_encoding", "data_type", "missing_input", "missing_messages_list",
    "message_missing_key", "message_unrecognized_key", "unrecognized_role", "missing_content",
    "input_missing_user_message", "input_ends_with_assistant", "unrecognized_key", "invalid_tools",
    "missing_preferred_output", "missing_non_preferred_output", "output_message_count", "output_role_not_assistant",
    "identical_outputs", "example_too_long", "format_mismatch", "mixed_formats", "method_not_supported",
    "too_few_examples", "file_too_large",
)
OUTPUTS = (("preferred_output", "missing_preferred_output"), ("non_preferred_output", "missing_non_preferred_output"))
_MARKER = b'preferred_output"'
_STARTS_AS_PAIR = re.compile(rb'\s*\{\s*"input"\s*:')
_LONE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


# ---- which format is each line ----------------------------------------------------------------------------

def line_format(example: Any) -> str | None:
    """"dpo" for a preference example, "supervised" for a chat one, None when it is neither."""
    if isinstance(example, dict):
        if PREFERENCE_KEYS.intersection(example):
            return "dpo"
        if "messages" in example:
            return "supervised"
    return None


def _line_heads(path: Path) -> Iterator[tuple[int, bytes]]:
    """Each line's first SKIP_CHUNK bytes (BOM stripped): enough to tell its format. The rest of a longer line is
    skipped, never held, so a line of hundreds of MB costs no more memory than a short one."""
    with open(path, "rb", buffering=READ_BUFFER) as stream:
        number = 0
        while raw := stream.readline(SKIP_CHUNK):
            number += 1
            if len(raw) == SKIP_CHUNK and not raw.endswith(b"\n"):
                skip_rest_of_line(stream)
            yield number, (raw[3:] if number == 1 and raw.startswith(BOM) else raw)


def _head_format(raw: bytes) -> str | None:
    """`line_format` of a line's head (see `_line_heads`); when it is not JSON, or cut short, told by the keys it
    shows."""
    try:
        return line_format(orjson.loads(raw))
    except orjson.JSONDecodeError:
        if _MARKER in raw or _STARTS_AS_PAIR.match(raw):
            return "dpo"
        return "supervised" if b'"messages"' in raw else None


def _bounded_lines(path: Path, limit: int) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, the line or None when it is over `limit` bytes, its size): at most `limit` bytes are held."""
    with open(path, "rb", buffering=READ_BUFFER) as stream:
        number = 0
        while raw := stream.readline(SKIP_CHUNK):
            number += 1
            whole: bytes | None = raw
            size = len(raw)
            if size == SKIP_CHUNK and not raw.endswith(b"\n"):
                whole, size = read_long_line(stream, raw, limit)
            if whole is not None and number == 1 and whole.startswith(BOM):
                whole = whole[3:]
            yield number, whole, size


@dataclass(frozen=True)
class Formats:
    """The method a file is validated as, and the lines written in each format (when the file was classified)."""

    method: str
    supervised: tuple[int, ...] = ()
    dpo: tuple[int, ...] = ()
    explicit: bool = False

    @property
    def mixed(self) -> bool:
        return bool(self.supervised) and bool(self.dpo)

    def other_lines(self) -> tuple[int, ...]:
        """Lines written in the format the file is not validated as."""
        return self.supervised if self.method == "dpo" else self.dpo


def first_format(path: Path, method: str | None = None) -> Formats:
    """The method to validate `path` for: `method` when given, else the format of its first example line (chat
    when none is recognisable). Reads only up to that line; which lines are in the other format is found by the
    scan (see `classify_lines`)."""
    if method is not None:
        return Formats(method, explicit=True)
    for _, raw in _line_heads(path):
        if raw.strip():
            return Formats(_head_format(raw) or "supervised")
    return Formats("supervised")


def classify_lines(path: Path, formats: Formats) -> Formats:
    """`formats` with the lines written in each format (one more pass over the file: only for a chat file that has
    lines without a messages list, i.e. one that may hold preference pairs)."""
    kinds: dict[str, list[int]] = {"supervised": [], "dpo": []}
    for number, raw in _line_heads(path):
        if kind := _head_format(raw):
            kinds[kind].append(number)
    return Formats(formats.method, tuple(kinds["supervised"]), tuple(kinds["dpo"]), formats.explicit)


def chat_formats(path: Path, errors: Iterable[Problem], formats: Formats) -> Formats:
    """The formats of a file validated as chat: its lines are classified only when some line has no messages
    list (what a preference pair looks like to the chat checks), so a clean chat file costs nothing more."""
    if any(code == "missing_messages_list" for _, code, _ in errors):
        return classify_lines(path, formats)
    return formats


def _ranges(lines: Iterable[int], shown: int = 8) -> str:
    """1,2,3,7 -> "1-3, 7" (the first `shown` ranges, then "and N more lines")."""
    spans: list[list[int]] = []
    for line in lines:
        if spans and line == spans[-1][1] + 1:
            spans[-1][1] = line
        else:
            spans.append([line, line])
    text = ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in spans[:shown])
    rest = sum(b - a + 1 for a, b in spans[shown:])
    return text + (f" and {rest:,} more lines" if rest else "")


NAMES = {"supervised": "chat (supervised)", "dpo": "preference (DPO)"}


def format_problems(formats: Formats) -> tuple[list[tuple[int | None, str, str]], set[int]]:
    """(errors, lines they replace): `format_mismatch` for each line in the other format, plus a file-level
    `mixed_formats` that lists both sets of lines when the format was detected rather than chosen."""
    other = formats.other_lines()
    if not other:
        return [], set()
    own_name, other_name = NAMES[formats.method], NAMES["supervised" if formats.method == "dpo" else "dpo"]
    how = "the training method asked for" if formats.explicit else "like its first example"
    errors: list[tuple[int | None, str, str]] = [
        (line, "format_mismatch", f"this line is a {other_name} example but the file is validated as {own_name} "
                                  f"({how}); one file holds one format")
        for line in other
    ]
    if formats.mixed and not formats.explicit:  # with --method, format_mismatch on each line says it all
        own = formats.dpo if formats.method == "dpo" else formats.supervised
        errors.insert(0, (None, "mixed_formats",
                          f"the file mixes formats: {NAMES['dpo']} on line(s) {_ranges(formats.dpo)}; "
                          f"{NAMES['supervised']} on line(s) {_ranges(formats.supervised)}. Keep {own_name} "
                          f"({len(own):,} lines) or split the file, one format per file"))
    return errors, set(other)


# ---- scanning ---------------------------------------------------------------------------------------------

@dataclass
class PreferenceScan:
    """What one pass over a preference file found; per counted example its token figures."""

    lines: int = 0
    examples: int = 0
    inputs: array = field(default_factory=lambda: array("q"))
    preferred: array = field(default_factory=lambda: array("q"))  # reply tokens (content) of each output
    non_preferred: array = field(default_factory=lambda: array("q"))
    sequences: array = field(default_factory=lambda: array("q"))  # both sequences' tokens of each example
    chat_lines: list[int] = field(default_factory=list)  # lines in the chat format (reported as format_mismatch)
    pair_lines: array = field(default_factory=lambda: array("q"))  # lines in the preference format
    seq_preferred: array = field(default_factory=lambda: array("q"))  # conversation + preferred reply
    seq_non_preferred: array = field(default_factory=lambda: array("q"))
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def billed_tokens(self, token_limit: int, epochs: int) -> int:
        """Both sequences of every counted example, each capped at the model's limit, x epochs."""
        return (billed_tokens(self.seq_preferred, token_limit, epochs)
                + billed_tokens(self.seq_non_preferred, token_limit, epochs))


class _Line:
    """The checks of one line; `problems` collects (code, message)."""

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        self.problems: list[tuple[str, str]] = []
        self.special: list[str] = []

    def add(self, code: str, message: str) -> None:
        self.problems.append((code, message))

    def count(self, text: str) -> int:
        if "<|" in text:
            self.special.extend(self.counter.special_tokens_in(text))
        return self.counter.count_text(text)

    def message_tokens(self, message: dict[str, Any]) -> int:
        total = 3
        for key, value in message.items():
            if isinstance(value, str):
                total += self.count(value)
            if key == "name":
                total += 1
        return total

    def check_message(self, message: Any, where: str, allowed_keys: frozenset[str]) -> bool:
        """Structural problems of one message; True when it is usable."""
        if not isinstance(message, dict):
            self.add("data_type", f"{where} must be a JSON object, got {_json_type(message)}")
            return False
        ok = True
        role = message.get("role")
        if "role" not in message:
            self.add("message_missing_key", f"{where} has no 'role' key")
            ok = False
        elif not isinstance(role, str) or role not in ROLES:
            self.add("unrecognized_role", f"{where} has role {role!r}; use one of {', '.join(sorted(ROLES))}")
            ok = False
        unknown = sorted(str(k) for k in message if k not in allowed_keys)
        if unknown:
            self.add("message_unrecognized_key", f"{where} has unrecognized key(s) {', '.join(map(repr, unknown))}; "
                                                 f"allowed: {', '.join(sorted(allowed_keys))}")
            ok = False
        content = message.get("content", None)
        has_call = message.get("tool_calls") or message.get("function_call")
        if role == "assistant" and has_call and (content is None or isinstance(content, str)):
            return ok
        if "content" not in message:
            self.add("message_missing_key", f"{where} ({role}) has no 'content' key")
            return False
        if not isinstance(content, str) or not content:
            what = "empty" if content == "" else ("null" if content is None else f"a {_json_type(content)}")
            self.add("missing_content", f"{where} ({role}) content is {what}; write the text")
            return False
        return ok

    def check_input(self, value: Any) -> int | None:
        """Tokens of the conversation (without reply priming), or None when it is unusable."""
        if not isinstance(value, dict):
            detail = "no 'input' key" if value is None else f"'input' is {_json_type(value)}"
            self.add("missing_input", f"{detail}; each line needs \"input\": {{\"messages\": [...]}}")
            return None
        unknown = sorted(str(k) for k in value if k not in INPUT_KEYS)
        if unknown:
            self.add("unrecognized_key", f"input has unrecognized key(s) {', '.join(map(repr, unknown))}; "
                                         f"allowed: {', '.join(sorted(INPUT_KEYS))}")
        messages = value.get("messages")
        if not isinstance(messages, list) or not messages:
            detail = ("no 'messages' key" if "messages" not in value
                      else "'messages' is empty" if messages == [] else f"'messages' is {_json_type(messages)}")
            self.add("missing_messages_list", f"input has {detail}; give the conversation up to the user's turn")
            return None
        total = 0
        usable = True
        for index, message in enumerate(messages, 1):
            if self.check_message(message, f"input message {index}", INPUT_MESSAGE_KEYS):
                total += self.message_tokens(message)
            else:
                usable = False
        roles = [m.get("role") for m in messages if isinstance(m, dict)]
        if "user" not in roles:
            self.add("input_missing_user_message", "the conversation has no user message; the outputs answer one")
            usable = False
        if roles and roles[-1] == "assistant":
            self.add("input_ends_with_assistant", "the conversation ends on an assistant turn; end it on the user's "
                                                  "turn and put the replies in preferred_output/non_preferred_output")
            usable = False
        tools = value.get("tools")
        if tools is not None:
            if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
                self.add("invalid_tools", f"input.tools must be a list of tool objects, got {_json_type(tools)}")
                usable = False
            elif tools:
                total += self.count(json.dumps(tools, separators=(",", ":"), ensure_ascii=False))
        parallel = value.get("parallel_tool_calls")
        if parallel is not None and not isinstance(parallel, bool):
            self.add("invalid_tools", f"input.parallel_tool_calls must be true or false, got {_json_type(parallel)}")
            usable = False
        return total if usable else None

    def check_output(self, value: Any, key: str, missing_code: str) -> dict[str, Any] | None:
        """The output's one assistant message, or None when the output is unusable."""
        if not isinstance(value, list) or not value:
            detail = (f"no '{key}' key" if value is None else f"'{key}' is empty" if value == []
                      else f"'{key}' is {_json_type(value)}")
            self.add(missing_code, f"{detail}; give one assistant message: \"{key}\": "
                                   "[{\"role\": \"assistant\", \"content\": \"...\"}]")
            return None
        if len(value) != 1:
            self.add("output_message_count", f"{key} has {len(value)} messages; it must be exactly one assistant reply")
        message = value[0]
        usable = self.check_message(message, f"{key} message", OUTPUT_KEYS) and len(value) == 1
        if isinstance(message, dict) and message.get("role") not in (None, "assistant"):
            self.add("output_role_not_assistant",
                     f"{key} message has role {message.get('role')!r}; an output is the assistant's reply")
            usable = False
        return message if usable else None


def _parse(raw: bytes, line: int, scan: PreferenceScan) -> Any:
    """The line's JSON, or None after recording why it has none (blank lines are `...`)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    if not raw.strip():
        return ...
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        scan.errors.append((line, "invalid_encoding", f"byte {exc.start + 1} is not valid UTF-8; save the file as UTF-8"))
        return None
    try:
        value = json.loads(text.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        scan.errors.append((line, "invalid_json", f"{exc.msg} at column {exc.colno}; each line must be one complete "
                                                  "JSON object"))
        return None
    except RecursionError:
        scan.errors.append((line, "invalid_json", "nested too deeply to parse"))
        return None
    if _LONE_SURROGATE.search(text):
        scan.warnings.append((line, "lone_surrogate", "a \\uD800-\\uDFFF escape; counted as U+FFFD, like tiktoken does"))
    return value


def scan_preference(path: Path, counter: TokenCounter, token_limit: int) -> PreferenceScan:
    """Check and count every line of a preference file."""
    scan = PreferenceScan()
    with open(path, "rb") as stream:
        first = stream.read(3)
    if first == BOM:
        scan.warnings.append((1, "utf8_bom", "the file starts with a UTF-8 byte order mark; accepted"))
    for line, raw, size in _bounded_lines(path, max_line_bytes(token_limit)):
        scan.lines = line
        if raw is None:
            scan.examples += 1
            scan.errors.append((line, "example_too_long",
                                f"the line is {size:,} bytes, longer than any example within the model's limit of "
                                f"{token_limit:,} tokens can be; shorten or split the example"))
            continue
        example = _parse(raw, line, scan)
        if example is ...:
            continue
        scan.examples += 1
        if example is None:
            continue
        if not isinstance(example, dict):
            scan.errors.append((line, "data_type", f"each line must be a JSON object, got {_json_type(example)}"))
            continue
        kind = line_format(example)
        if kind == "dpo":
            scan.pair_lines.append(line)
        if kind == "supervised":
            scan.chat_lines.append(line)
            scan.errors.append((line, "format_mismatch", "this line is a chat (supervised) example; a preference "
                                                          "file needs input, preferred_output and non_preferred_output"))
            continue
        check = _Line(counter)
        unknown = sorted(str(k) for k in example if k not in PREFERENCE_KEYS)
        if unknown:
            check.add("unrecognized_key", f"unrecognized key(s) {', '.join(map(repr, unknown))}; allowed: "
                                          f"{', '.join(sorted(PREFERENCE_KEYS))}")
        conversation = check.check_input(example.get("input"))
        outputs = [check.check_output(example.get(key), key, code) for key, code in OUTPUTS]
        preferred, non_preferred = outputs
        if preferred is not None and non_preferred is not None and preferred == non_preferred:
            check.add("identical_outputs", "preferred_output and non_preferred_output are the same reply; "
                                           "the non-preferred one must be a worse answer")
        scan.errors.extend((line, code, message) for code, message in check.problems)
        usable = not (check.problems or conversation is None or preferred is None or non_preferred is None)
        replies = [check.message_tokens(m) for m in (preferred, non_preferred)] if usable else []
        if check.special:
            scan.warnings.append((line, "special_token_text",
                                  f"contains {', '.join(sorted(set(check.special)))}; counted as plain text"))
        if not usable:
            continue
        sequences = [conversation + reply + 3 for reply in replies]
        contents = [counter.count_text(m["content"]) if isinstance(m.get("content"), str) else 0
                    for m in (preferred, non_preferred)]
        scan.inputs.append(conversation + 3)
        scan.preferred.append(contents[0])
        scan.non_preferred.append(contents[1])
        scan.sequences.append(sum(sequences))
        scan.seq_preferred.append(sequences[0])
        scan.seq_non_preferred.append(sequences[1])
        longest = max(sequences)
        if longest > token_limit:
            which = "preferred" if sequences[0] >= sequences[1] else "non-preferred"
            scan.errors.append((line, "example_too_long",
                                f"the conversation with its {which} reply is {longest:,} tokens, over the model's "
                                f"limit of {token_limit:,}; shorten it"))
    return scan
