"""The policy pack as the Pulumi CLI runs it: `python -m pulumi.policy <engine> policy/` serves the analyzer
gRPC API on loopback; we talk to it the way the engine does (GetAnalyzerInfo, Configure, Analyze)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import jsonschema
import pytest
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from policy import policies

ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = ROOT / "policy"


def test_importing_main_defines_the_pack_without_serving() -> None:
    import policy.__main__ as entry  # would block forever if it constructed PolicyPack on import

    assert entry.PACK_NAME == "aoai-finetune-guardrails"
    assert callable(entry.serve)


def test_pulumipolicy_yaml_and_requirements() -> None:
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"  # kept out of git by .gitignore's `.venv/`
    requirements = (POLICY_DIR / "requirements.txt").read_text().lower()
    for package in ("pulumi-policy", "pulumi", "pydantic"):
        assert package in requirements
    # The pack runs in its own venv: it must not need the project's own packages.
    source = (POLICY_DIR / "policies.py").read_text() + (POLICY_DIR / "__main__.py").read_text()
    assert "import pipeline" not in source and "from pipeline" not in source and "from infra" not in source


def test_example_config_matches_the_policy_schemas() -> None:
    config = json.loads((POLICY_DIR / "policy-config.json").read_text())
    assert config.pop("all") == "mandatory"
    schemas = {p.name: p.config_schema for p in policies.build_policies()}
    for name, values in config.items():
        schema = schemas[name]
        assert schema is not None, f"{name} takes no config"
        jsonschema.validate(values, {"type": "object", "properties": schema.properties, "additionalProperties": False})
        policies.GuardrailConfig.model_validate(values)


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(PULUMI_PROJECT="aoai-finetune", PULUMI_STACK="prod", PULUMI_DRY_RUN="true")
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(POLICY_DIR)],
        cwd=POLICY_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline().strip() if proc.stdout else ""
        if not line.isdigit():
            proc.kill()
            pytest.fail(f"policy pack did not start: stdout={line!r} stderr={proc.communicate(timeout=10)[1]}")
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(channel).result(timeout=20)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def analyze(stub: analyzer_pb2_grpc.AnalyzerStub, resource_type: str, props: dict[str, Any],
            stack: str = "prod") -> list[analyzer_pb2.AnalyzeDiagnostic]:
    properties = struct_pb2.Struct()
    properties.update(props)
    request = analyzer_pb2.AnalyzeRequest(
        type=resource_type, properties=properties, name="r",
        urn=f"urn:pulumi:{stack}::aoai-finetune::{resource_type}::r",
    )
    return list(stub.Analyze(request, timeout=20).diagnostics)


def test_analyzer_info_lists_every_policy_as_mandatory(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=20)
    assert info.name == "aoai-finetune-guardrails"
    assert [p.name for p in info.policies] == [*policies.RULES, *policies.STACK_RULES]
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}
    schema = {p.name: json_format.MessageToDict(p.configSchema) for p in info.policies}
    assert schema["prod-deployment-sku-allowed"]["properties"]["allowedDeploymentSkus"]["default"] == ["Standard", "GlobalStandard"]


def test_analyzer_blocks_a_keyed_public_prod_account(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    tags = {"env": "prod", "owner": "ml-platform"}
    bad = {"location": "westeurope", "sku": {"name": "S0"}, "properties": {"disableLocalAuth": False}, "tags": tags}
    diagnostics = analyze(analyzer, policies.ACCOUNT, bad)
    assert {d.policyName for d in diagnostics} == {"prod-local-auth-disabled", "prod-network-restricted", "prod-location-allowed"}
    assert all(d.enforcementLevel == analyzer_pb2.MANDATORY for d in diagnostics)
    assert analyze(analyzer, policies.ACCOUNT, bad, stack="dev") == []

    good = {"location": "swedencentral", "sku": {"name": "S0"}, "tags": tags,
            "properties": {"disableLocalAuth": True, "publicNetworkAccess": "Disabled"}}
    assert analyze(analyzer, policies.ACCOUNT, good) == []


def test_analyzer_checks_deployments_and_role_assignments(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    # capacity crosses gRPC as a double (1 -> 1.0) and must still pass
    assert analyze(analyzer, policies.DEPLOYMENT, {"sku": {"name": "Standard", "capacity": 1}}) == []
    dev_tier = analyze(analyzer, policies.DEPLOYMENT, {"sku": {"name": "DeveloperTier"}})
    assert {d.policyName for d in dev_tier} == {"prod-deployment-sku-allowed", "deployment-capacity-set"}
    [role] = analyze(analyzer, policies.ROLE_ASSIGNMENT, {"principalId": "p"}, stack="dev")
    assert role.policyName == "role-assignment-principal-type" and "principalType is not set" in role.message


def test_configured_prod_stacks_reach_the_policies(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    config = analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY)
    config.properties.update({"prodStacks": ["production"]})
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={"prod-local-auth-disabled": config}), timeout=20)
    try:
        keyed = {"properties": {"disableLocalAuth": False, "publicNetworkAccess": "Disabled"},
                 "location": "swedencentral", "sku": {"name": "S0"}, "tags": {"env": "prod", "owner": "me"}}
        assert [d.policyName for d in analyze(analyzer, policies.ACCOUNT, keyed, stack="production")] == ["prod-local-auth-disabled"]
        assert analyze(analyzer, policies.ACCOUNT, keyed, stack="prod") == []
    finally:
        analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={}), timeout=20)


def test_analyzer_requires_tags_on_prod_resources(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    [missing] = analyze(analyzer, policies.PRIVATE_ENDPOINT, {"tags": {"env": "prod"}})
    assert missing.policyName == "prod-required-tags" and "['owner'] are missing" in missing.message
    assert analyze(analyzer, policies.PRIVATE_ENDPOINT, {"tags": {"env": "prod", "owner": "x"}}) == []
    assert analyze(analyzer, policies.PRIVATE_ENDPOINT, {}, stack="dev") == []


def stack_resource(resource_type: str, name: str, props: dict[str, Any], stack: str = "prod",
                   dependencies: tuple[str, ...] = ()) -> analyzer_pb2.AnalyzerResource:
    properties = struct_pb2.Struct()
    properties.update(props)
    return analyzer_pb2.AnalyzerResource(type=resource_type, properties=properties, name=name,
                                         urn=f"urn:pulumi:{stack}::aoai-finetune::{resource_type}::{name}",
                                         dependencies=list(dependencies))


def test_analyzer_checks_the_whole_prod_stack(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    """AnalyzeStack, as the engine calls it after `pulumi up`: the resources' outputs and dependencies."""
    account_urn = f"urn:pulumi:prod::aoai-finetune::{policies.ACCOUNT}::openai"
    account = stack_resource(policies.ACCOUNT, "openai", {"name": "aoai-ft-prod-1a2b",
                                                          "properties": {"publicNetworkAccess": "Disabled"}})
    bare = list(analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[account]), timeout=20).diagnostics)
    assert {d.policyName for d in bare} == {"prod-private-endpoint", "prod-diagnostic-settings", "prod-account-lock"}
    assert all(d.enforcementLevel == analyzer_pb2.MANDATORY and d.urn == account_urn for d in bare)

    endpoint = stack_resource(policies.PRIVATE_ENDPOINT, "pe", {"name": "pe-aoai-ft-prod-1a2b"},
                              dependencies=(account_urn,))
    zone_group = stack_resource(policies.DNS_ZONE_GROUP, "zg", {"name": "default"},
                                dependencies=(endpoint.urn,))
    setting = stack_resource(policies.DIAGNOSTIC_SETTING, "diag", {
        "workspaceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/log",
        "logs": [{"category": c, "enabled": True} for c in ("Audit", "RequestResponse", "Trace")]},
        dependencies=(account_urn,))
    lock = stack_resource("azure-native:authorization:ManagementLockByScope", "lock", {"level": "CanNotDelete"},
                          dependencies=(account_urn,))
    complete = [account, endpoint, zone_group, setting, lock]
    request = analyzer_pb2.AnalyzeStackRequest(resources=complete)
    assert list(analyzer.AnalyzeStack(request, timeout=20).diagnostics) == []
    dev = [stack_resource(policies.ACCOUNT, "openai", {"properties": {"publicNetworkAccess": "Disabled"}}, stack="dev")]
    assert list(analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=dev), timeout=20).diagnostics) == []
