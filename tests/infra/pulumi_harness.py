"""Run the real Pulumi program under mocks, with config built from the real Pulumi.yaml + Pulumi.<stack>.yaml.

`stack_config()` does what the Pulumi CLI does before starting the program: reject stack keys the project does
not declare, fill in project defaults, check declared types, and pass every value as a string (objects/arrays as
JSON). `run_program()` resets Pulumi's global runtime state, installs fresh recording mocks and runs
`infra/` with runpy exactly like the language host (cwd = infra/, run_name "__main__"). `shared_run()` does one
such run per test process for each distinct config, for the many tests that only read what it registered.
"""
from __future__ import annotations

import asyncio
import copy
import functools
import json
import os
import runpy
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.sync_await import _sync_await

from infra import naming

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
PROJECT = "aoai-finetune"
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
TENANT = "99999999-8888-7777-6666-555555555555"
RUNNER_OBJECT_ID = "0f0e0d0c-0b0a-0908-0706-050403020100"
USER_IDENTITY_CLIENT_ID = "c1c1c1c1-0000-4000-8000-00000000c11d"
"""What getUserAssignedIdentity answers as the client id of any user-assigned identity."""
ARM_CHILD_TYPES: dict[str, tuple[str, str]] = {  # type -> (provider path of its ARM id, input holding its name)
    "azure-native:network:PrivateEndpoint": ("Microsoft.Network/privateEndpoints", "privateEndpointName"),
    "azure-native:network:PrivateDnsZoneGroup": ("privateDnsZoneGroups", "privateDnsZoneGroupName"),
    "azure-native:privatedns:PrivateZone": ("Microsoft.Network/privateDnsZones", "privateZoneName"),
    "azure-native:privatedns:VirtualNetworkLink": ("virtualNetworkLinks", "virtualNetworkLinkName"),
    "azure-native:operationalinsights:Workspace": ("Microsoft.OperationalInsights/workspaces", "workspaceName"),
    "azure-native:monitor:DiagnosticSetting": ("Microsoft.Insights/diagnosticSettings", "name"),
    "azure-native:authorization:ManagementLockByScope": ("Microsoft.Authorization/locks", "lockName"),
}
SOURCE_STACK_OUTPUTS = {  # what a StackReference to a trained dev stack reads (promote mode)
    "FINE_TUNED_MODEL": "gpt-4o-mini-2024-07-18.ft-0123456789abcdef0123456789abcdef",
    "EVAL_PASS_RATE": 0.75, "EVAL_BASE_PASS_RATE": 0.0, "EVAL_RUN_ID": "evalrun_dev",
    "AZURE_OPENAI_ACCOUNT_ID": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-aoai-finetune-dev/providers/"
                               "Microsoft.CognitiveServices/accounts/aoai-finetune-1a2b3c",
}


def project_file() -> dict[str, Any]:
    return copy.deepcopy(_parsed_yaml((ROOT / "Pulumi.yaml").read_text()))


@functools.lru_cache(maxsize=32)
def _parsed_yaml(text: str) -> Any:
    """A YAML document parsed once per content, not on every `stack_config()` (parsing Pulumi.yaml costs ~15 ms of
    CPU, a sixth of a whole program run under mocks). Shared: callers must not change what it returns."""
    return yaml.safe_load(text)


def _as_config_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _type_ok(declared: dict[str, Any], value: Any) -> bool:
    kind = declared.get("type")
    if kind is None:
        return True
    if kind == "string":
        return not isinstance(value, (dict, list))
    if kind == "integer":
        try:
            int(str(value))
            return True
        except ValueError:
            return False
    if kind == "boolean":
        return isinstance(value, bool) or str(value) in ("true", "false")
    if kind == "array":
        return isinstance(value, list)
    raise AssertionError(f"unexpected declared type {kind}")


def stack_config(stack: str = "dev", overrides: dict[str, Any] | None = None, *, stack_file: Path | None = None) -> dict[str, str]:
    """The `aoai-finetune:<key>` -> string map the CLI would hand the program for this stack."""
    declared: dict[str, dict[str, Any]] = _parsed_yaml((ROOT / "Pulumi.yaml").read_text())["config"]
    path = stack_file or ROOT / f"Pulumi.{stack}.yaml"
    values: dict[str, Any] = dict((_parsed_yaml(path.read_text()) or {}).get("config") or {})
    for key, value in (overrides or {}).items():
        values[f"{PROJECT}:{key}"] = value
    result: dict[str, str] = {}
    for full_key, value in values.items():
        namespace, _, key = full_key.partition(":")
        assert namespace == PROJECT, f"{path.name}: unexpected namespace in {full_key}"
        assert key in declared, f"Stack '{stack}' uses configuration value '{key}' which is not defined by the project"
        assert _type_ok(declared[key], value), f"Stack '{stack}' with configuration key '{key}' has the wrong type"
        result[full_key] = _as_config_string(value)
    for key, spec in declared.items():
        assert "default" in spec, f"Pulumi.yaml key {key} has no default, so every stack would have to set it"
        result.setdefault(f"{PROJECT}:{key}", _as_config_string(spec["default"]))
    return result


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like azure-native would, and records every resource and invoke."""

    subscription_id: str = SUBSCRIPTION
    object_id: str = RUNNER_OBJECT_ID
    keys: tuple[str, str] = ("mock-key-1", "mock-key-2")
    stack_outputs: dict[str, Any] = field(default_factory=lambda: dict(SOURCE_STACK_OUTPUTS))
    eval_figures: tuple[float, float] = (0.75, 0.0)  # what the Evaluation reports: fine-tuned, base pass rate
    resources: list[pulumi.runtime.MockResourceArgs] = field(default_factory=list)
    calls: list[pulumi.runtime.MockCallArgs] = field(default_factory=list)
    user_identity_lookups: list[dict[str, Any]] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        inputs = dict(args.inputs)
        outputs = dict(inputs)
        if args.typ == "azure-native:resources:ResourceGroup":
            name = inputs.get("resourceGroupName", args.name)
            outputs["name"] = name
            return f"/subscriptions/{self.subscription_id}/resourceGroups/{name}", outputs
        if args.typ == "azure-native:cognitiveservices:Account":
            name = inputs["accountName"]
            props = dict(inputs.get("properties") or {})
            props["endpoint"] = naming.endpoint_for(props["customSubDomainName"])
            props["provisioningState"] = "Succeeded"
            outputs.update(name=name, properties=props)
            identity = inputs.get("identity")
            if identity and identity.get("userAssignedIdentities"):  # ARM answers a map id -> the identity's ids
                outputs["identity"] = {**identity, "userAssignedIdentities": {
                    uai: {"clientId": USER_IDENTITY_CLIENT_ID, "principalId": "5a5a5a5a-0000-4000-8000-000000000001"}
                    for uai in identity["userAssignedIdentities"]}}
            return naming.account_resource_id(self.subscription_id, inputs["resourceGroupName"], name), outputs
        if args.typ == "azure-native:cognitiveservices:Deployment":
            outputs["name"] = inputs["deploymentName"]
            return f"{inputs['deploymentName']}-id", outputs
        if args.typ == "azure-native:authorization:RoleAssignment":
            outputs["name"] = inputs["roleAssignmentName"]
            return f"{inputs['scope']}/providers/Microsoft.Authorization/roleAssignments/{inputs['roleAssignmentName']}", outputs
        if args.typ in ARM_CHILD_TYPES:  # the production controls: named like ARM does, ids like ARM's
            provider_path, name_key = ARM_CHILD_TYPES[args.typ]
            name = inputs.get(name_key) or args.name
            outputs["name"] = name
            scope = inputs.get("resourceUri") or inputs.get("scope")  # extension resources live under their target
            if scope:
                return f"{scope}/providers/{provider_path}/{name}", outputs
            if args.typ == "azure-native:network:PrivateDnsZoneGroup":
                provider_path = f"Microsoft.Network/privateEndpoints/{inputs['privateEndpointName']}/{provider_path}"
            if args.typ == "azure-native:privatedns:VirtualNetworkLink":
                provider_path = f"Microsoft.Network/privateDnsZones/{inputs['privateZoneName']}/{provider_path}"
            group = inputs["resourceGroupName"]
            group_id = f"/subscriptions/{self.subscription_id}/resourceGroups/{group}"
            return f"{group_id}/providers/{provider_path}/{name}", outputs
        if args.typ == "pulumi:pulumi:StackReference":
            name = inputs["name"]
            return name, {"name": name, "outputs": dict(self.stack_outputs), "secretOutputNames": []}
        if args.typ == "pulumi-python:dynamic/aoai-finetune:Evaluation":
            outputs.update(pass_rate=self.eval_figures[0], base_pass_rate=self.eval_figures[1],
                           run_id="evalrun_mock", base_run_id="evalrun_mock_base", eval_id="eval_mock")
        if args.typ.startswith("pulumi-python:dynamic"):
            outputs.update(restore=False, purged_stale=False)
            return f"{args.name}-id", outputs
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.calls.append(args)
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                "objectId": self.object_id,
                "subscriptionId": self.subscription_id,
                "tenantId": TENANT,
            }
        if args.token == "azure-native:managedidentity:getUserAssignedIdentity":
            self.user_identity_lookups.append(dict(args.args))
            return {"clientId": USER_IDENTITY_CLIENT_ID, "principalId": "5a5a5a5a-0000-4000-8000-000000000001",
                    "tenantId": TENANT, "name": args.args["resourceName"], "location": "swedencentral",
                    "type": "Microsoft.ManagedIdentity/userAssignedIdentities"}
        if args.token == "azure-native:cognitiveservices:listAccountKeys":
            return {"key1": self.keys[0], "key2": self.keys[1]}
        raise AssertionError(f"unexpected invoke {args.token}")

    # --- queries for assertions ---
    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def invoked(self, token: str) -> list[pulumi.runtime.MockCallArgs]:
        return [c for c in self.calls if c.token == token]


def ensure_event_loop() -> None:
    """Pulumi's sync helpers call asyncio.get_event_loop(); an earlier asyncio.run() in the same process leaves
    the main thread without one, so give it a fresh loop when it has none (or a closed one)."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    loop.set_exception_handler(_quiet_about_expected_failures)


def _quiet_about_expected_failures(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Tests that make the program fail on purpose (and assert the error) leave Output futures holding that
    error; asyncio would print each one as "never retrieved" when it is garbage-collected. Anything else is
    reported as usual."""
    if context.get("message", "").startswith("Future exception was never retrieved"):
        return
    loop.default_exception_handler(context)


def reset_pulumi(mocks: pulumi.runtime.Mocks, config: dict[str, str], *, stack: str = "dev",
                 preview: bool = False) -> None:
    """Fresh global runtime: no root stack, new mocks (which create a new root stack), new config."""
    ensure_event_loop()
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview)
    pulumi.runtime.set_all_config(config, [])


@dataclass
class ProgramRun:
    mocks: RecordingMocks
    outputs: dict[str, Any]
    secret_outputs: set[str]
    urns: dict[str, Any]  # URN -> registration (id, state), as the mock monitor recorded them

    def urn_of(self, typ: str, name: str) -> str:
        matches = [urn for urn in self.urns if urn.endswith(f"{typ}::{name}")]
        assert len(matches) == 1, f"expected one {typ}::{name}, got {matches}"
        return matches[0]


def resolve(value: Any) -> tuple[Any, bool]:
    """Value and secret-ness of a (possibly Output) value after the program has finished."""
    output = pulumi.Output.from_input(value)
    return _sync_await(output.future()), bool(_sync_await(output.is_secret()))


def run_program(config: dict[str, str], mocks: RecordingMocks | None = None, *, stack: str = "dev",
                preview: bool = False) -> ProgramRun:
    """Run the real infra/__main__.py under mocks the way the Pulumi language host does (`preview`: as in
    `pulumi preview`, where the SDK treats what a resource has not reported yet as unknown)."""
    mocks = mocks or RecordingMocks()
    reset_pulumi(mocks, config, stack=stack, preview=preview)
    cwd = os.getcwd()
    os.chdir(INFRA)
    try:
        pulumi.runtime.test(lambda: runpy.run_path(str(INFRA), run_name="__main__"))()
    finally:
        os.chdir(cwd)
    root = runtime_settings.get_root_resource()
    outputs: dict[str, Any] = {}
    secrets: set[str] = set()
    for name, value in root.outputs.items():
        outputs[name], is_secret = resolve(value)
        if is_secret:
            secrets.add(name)
    return ProgramRun(mocks, outputs, secrets, registered_resources())


def registered_resources() -> dict[str, Any]:
    monitor = runtime_settings.get_monitor()
    return monitor.get_registered_resources()  # type: ignore[union-attr]


@dataclass
class RecordedRun:
    """A finished program run with what tests read besides its `ProgramRun`: the raw RegisterResource requests
    (dependencies, aliases, secret markers) and the warnings the program logged."""

    run: ProgramRun
    requests: list[Any]
    warnings: list[str]

    @property
    def mocks(self) -> RecordingMocks:
        return self.run.mocks


def recorded_requests(patch: pytest.MonkeyPatch) -> list[Any]:
    """The raw RegisterResource requests of program runs from now on (to see dependencies, aliases, secret markers
    and additional_secret_outputs), until `patch` is undone."""
    seen: list[Any] = []
    original = pulumi_mocks.MockMonitor.RegisterResource

    def spy(self: Any, request: Any) -> Any:
        seen.append(request)
        return original(self, request)

    patch.setattr(pulumi_mocks.MockMonitor, "RegisterResource", spy)
    return seen


def recorded_warnings(patch: pytest.MonkeyPatch) -> list[str]:
    """The messages of `pulumi.log.warn` from now on (still logged), until `patch` is undone."""
    seen: list[str] = []
    original = pulumi.log.warn

    def record(msg: str, *args: Any, **kwargs: Any) -> None:
        seen.append(msg)
        original(msg, *args, **kwargs)

    patch.setattr(pulumi.log, "warn", record)
    return seen


def record_run(config: dict[str, str], mocks: RecordingMocks, *, stack: str = "dev",
               preview: bool = False) -> RecordedRun:
    """`run_program` in the environment every test starts with (`hermetic_environment` of tests/conftest.py, with an
    empty cache of validation reports of its own), whatever the calling test has set, recording the requests and
    warnings; everything it patches is restored afterwards."""
    from tests.conftest import hermetic_environment

    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory(prefix="aoai-ft-cache-") as cache:
        hermetic_environment(patch, Path(cache))
        requests, warnings = recorded_requests(patch), recorded_warnings(patch)
        run = run_program(config, mocks, stack=stack, preview=preview)
    return RecordedRun(run, requests, warnings)


_SHARED_RUNS: dict[tuple[Any, ...], RecordedRun] = {}


def shared_run(config: dict[str, str], mocks_type: type[RecordingMocks] = RecordingMocks, *, stack: str = "dev",
               preview: bool = False) -> RecordedRun:
    """`record_run(config, mocks_type(), ...)` done once per test process for each config, mocks type, stack and
    preview flag, and then handed to every test that asks for the same: for tests that only read what the program
    registered (a run costs ~0.1-0.2 s of CPU). The run is shared, so a test must not change it. Its environment is
    the hermetic one (see `record_run`), so the result does not depend on which test asks first. A run that fails
    is not kept: each test that asks for it runs it again and sees the error itself."""
    key = (tuple(sorted(config.items())), mocks_type, stack, preview)
    if key not in _SHARED_RUNS:
        _SHARED_RUNS[key] = record_run(config, mocks_type(), stack=stack, preview=preview)
    return _SHARED_RUNS[key]
