"""The ARM spec's schemas, so PUT bodies are checked against the same definitions Azure publishes.

`specs/cognitiveservices-arm-subset.json` is the closure of the definitions the emulator serves (Account,
Deployment, their list results, ApiKeys, RegenerateKeyParameters), copied unchanged from the official
`Microsoft.CognitiveServices` stable 2026-09-01 spec by `extract_subset` (a test re-derives it from the full
spec and compares). The spec points at ARM's common-types files, which are not stored here: `ProxyResource`
is transcribed below (id/name/type/systemData), every other external `$ref` becomes `{}` (accept anything).

Two flavours: `request_validator` (what the service enforces: required fields and types; extensible enums
(`x-ms-enum.modelAsString`) accept any string) and `strict_schema` (for tests of our own responses: enums
enforced and no properties outside the spec).
"""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

SUBSET_PATH = Path(__file__).parent / "specs" / "cognitiveservices-arm-subset.json"
ROOT_DEFINITIONS: tuple[str, ...] = (
    "Account", "AccountListResult", "Deployment", "DeploymentListResult", "ApiKeys", "RegenerateKeyParameters",
)

# common-types/resource-management/v3/types.json#/definitions/ProxyResource (Resource + systemData), by hand.
_SYSTEM_DATA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "createdBy": {"type": "string"},
        "createdByType": {"type": "string", "enum": ["User", "Application", "ManagedIdentity", "Key"]},
        "createdAt": {"type": "string", "format": "date-time"},
        "lastModifiedBy": {"type": "string"},
        "lastModifiedByType": {"type": "string", "enum": ["User", "Application", "ManagedIdentity", "Key"]},
        "lastModifiedAt": {"type": "string", "format": "date-time"},
    },
}
PROXY_RESOURCE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "readOnly": True},
        "name": {"type": "string", "readOnly": True},
        "type": {"type": "string", "readOnly": True},
        "systemData": {**_SYSTEM_DATA, "readOnly": True},
    },
}


def extract_subset(spec: dict[str, Any], roots: tuple[str, ...] = ROOT_DEFINITIONS) -> dict[str, Any]:
    """The definitions reachable from `roots` through local `$ref`s, unchanged, plus the external refs seen."""
    definitions = spec["definitions"]
    picked: dict[str, Any] = {}
    external: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    if value.startswith("#/definitions/"):
                        name = value.rsplit("/", 1)[-1]
                        if name not in picked:
                            picked[name] = definitions[name]
                            walk(definitions[name])
                    else:
                        external.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for root in roots:
        picked[root] = definitions[root]
        walk(definitions[root])
    return {
        "source": "Azure/azure-rest-api-specs specification/cognitiveservices/resource-manager/"
                  "Microsoft.CognitiveServices/stable/2026-09-01/cognitiveservices.json @5b7c3600",
        "info_version": spec.get("info", {}).get("version"),
        "roots": list(roots),
        "external_refs": sorted(external),
        "definitions": dict(sorted(picked.items())),
    }


@lru_cache(maxsize=1)
def load_subset() -> dict[str, Any]:
    return json.loads(SUBSET_PATH.read_text(encoding="utf-8"))


def _transform(node: Any, *, strict: bool) -> Any:
    """Resolve external refs, inline `allOf` (so strict mode can forbid unknown properties), relax enums."""
    if isinstance(node, list):
        return [_transform(item, strict=strict) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#/"):
        return copy.deepcopy(PROXY_RESOURCE) if ref.endswith("/ProxyResource") else {}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-") or key in ("description", "example", "discriminator"):
            continue
        if key == "properties":  # a map of property names: names are data, not keywords
            out[key] = {prop: _transform(schema, strict=strict) for prop, schema in value.items()}
        else:
            out[key] = value if key == "enum" else _transform(value, strict=strict)
    for part in out.pop("allOf", []):  # allOf here is only ever the resource envelope: merge it in
        out.setdefault("properties", {}).update(part.get("properties", {}))
        out.setdefault("type", part.get("type", "object"))
    if "enum" in node and node.get("x-ms-enum", {}).get("modelAsString", True) and not strict:
        out.pop("enum")
    if strict and out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@lru_cache(maxsize=4)
def _definitions(strict: bool) -> dict[str, Any]:
    return {name: _transform(d, strict=strict) for name, d in load_subset()["definitions"].items()}


def definition_schema(name: str, *, strict: bool) -> dict[str, Any]:
    """A self-contained JSON schema (draft 4 / OpenAPI 3.0 compatible) for one spec definition."""
    return {"$ref": f"#/definitions/{name}", "definitions": _definitions(strict)}


def strict_schema(name: str) -> dict[str, Any]:
    return definition_schema(name, strict=True)


@lru_cache(maxsize=16)
def request_validator(name: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(definition_schema(name, strict=False))


def request_errors(name: str, body: Any) -> list[tuple[str, str]]:
    """(json path, message) for each way `body` breaks the spec's `name` definition, most relevant first."""
    validator = request_validator(name)
    errors = sorted(validator.iter_errors(body), key=lambda e: (len(e.path), list(map(str, e.path))))
    return [(".".join(str(p) for p in e.path), e.message) for e in errors]
