"""`{{item.x}}` / `{{sample.output_text}}` templates, as the Evals API fills them in messages and graders."""
from __future__ import annotations

import json
import re
from typing import Any, Final

from pipeline.emulator.errors import AzureError

VARIABLE: Final = re.compile(r"\{\{\s*([A-Za-z_][\w]*)\.([\w.]+)\s*\}\}")
NAMESPACES: Final = ("item", "sample")


def variables(text: str) -> list[tuple[str, str]]:
    """(namespace, path) of every variable in `text`."""
    return [(m.group(1), m.group(2)) for m in VARIABLE.finditer(text)]


def check(text: str, where: str, item_properties: set[str] | None, *, sample_allowed: bool) -> None:
    """400 for a variable the eval cannot fill: unknown namespace, item field not in the schema, or sample too early."""
    for namespace, path in variables(text):
        if namespace not in NAMESPACES:
            raise AzureError(400, "invalidPayload",
                             f"{where}: '{{{{{namespace}.{path}}}}}' uses an unknown namespace; use item.* or sample.*.",
                             param=where)
        if namespace == "sample" and not sample_allowed:
            raise AzureError(400, "invalidPayload",
                             f"{where}: '{{{{sample.{path}}}}}' is only known to graders, not to the model's input.",
                             param=where)
        root = path.split(".", 1)[0]
        if namespace == "item" and item_properties is not None and root not in item_properties:
            raise AzureError(400, "invalidPayload",
                             f"{where}: '{{{{item.{path}}}}}' is not a property of the eval's item_schema "
                             f"(properties: {', '.join(sorted(item_properties)) or 'none'}).", param=where)


def lookup(scope: dict[str, Any], namespace: str, path: str) -> Any:
    value: Any = scope.get(namespace)
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def render(text: str, scope: dict[str, Any]) -> str:
    """Fill every variable; strings as they are, other values as JSON, missing ones as empty text."""
    def fill(match: re.Match[str]) -> str:
        value = lookup(scope, match.group(1), match.group(2))
        if value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    return VARIABLE.sub(fill, text)


def content_text(content: Any) -> str:
    """A message's content as text: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    if isinstance(content, list):
        return " ".join(content_text(part) for part in content)
    return ""
