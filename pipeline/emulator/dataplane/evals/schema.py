"""The eval's item schema: checked when the eval is created, applied to every item of a run."""
from __future__ import annotations

from typing import Any

from pipeline.emulator.errors import AzureError


def check_data_source_config(config: Any) -> dict[str, Any]:
    """`{"type": "custom", "item_schema": {...}}` -> the stored `{"type": "custom", "schema": {...}}`."""
    if not isinstance(config, dict) or config.get("type") != "custom":
        raise AzureError(400, "invalidPayload", "data_source_config must be {'type': 'custom', 'item_schema': {...}} "
                         "(the only kind this emulator serves).", param="data_source_config")
    schema = config.get("item_schema")
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise AzureError(400, "invalidPayload", "data_source_config.item_schema must be a JSON schema of an object.",
                         param="data_source_config.item_schema")
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise AzureError(400, "invalidPayload", f"data_source_config.item_schema is not a valid JSON schema: "
                         f"{exc.message}.", param="data_source_config.item_schema") from None
    return {"type": "custom", "schema": schema}


def item_properties(config: dict[str, Any]) -> set[str] | None:
    """Names an `{{item.x}}` may use, or None when the schema does not list them."""
    properties = (config.get("schema") or {}).get("properties")
    return set(properties) if isinstance(properties, dict) and properties else None


def check_item(schema: dict[str, Any], item: dict[str, Any], index: int) -> None:
    from jsonschema import Draft202012Validator

    error = next(iter(Draft202012Validator(schema).iter_errors(item)), None)
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "item"
        raise AzureError(400, "invalidPayload", f"data source item {index} does not match the eval's item_schema "
                         f"({where}: {error.message}).", param="data_source.source")
