"""The guardrails against what the real program registers: run infra/ under Pulumi mocks with the shipped stack
files, then put every recorded resource's inputs through every resource policy, and the whole set of resources
(with the dependencies the program declared) through every stack policy, as `pulumi up --policy-pack policy`
would."""
from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

import pytest
from pulumi_policy import PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs
from pulumi_policy.policy import PolicyCustomTimeouts, PolicyResourceOptions
from pulumi_policy.proxy import unknown_checking_proxy

from policy import policies
from tests.infra.conftest import register_requests  # noqa: F401  (fixture)
from tests.infra.pulumi_harness import PROJECT, ROOT, ProgramRun, run_program, shared_run, stack_config

PROD_EXAMPLE = ROOT / "Pulumi.prod.yaml.example"
OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def stack_resources(run: ProgramRun, requests: list[Any]) -> list[PolicyResource]:
    """The registered resources as the engine hands them to a stack policy: props, URN, dependencies."""
    dependencies = {(r.type, r.name): list(r.dependencies) for r in requests}
    by_urn: dict[str, PolicyResource] = {}
    for resource in run.mocks.resources:
        urn = run.urn_of(resource.typ, resource.name)
        by_urn[urn] = PolicyResource(resource.typ, unknown_checking_proxy(copy.deepcopy(dict(resource.inputs))), urn,
                                     resource.name, OPTIONS, None, None, [], {})
    for resource in by_urn.values():
        resource.dependencies.extend(by_urn[d] for d in dependencies.get((resource.resource_type, resource.name), [])
                                     if d in by_urn)
    return list(by_urn.values())


def violations(run: ProgramRun, stack: str, requests: list[Any] | None = None) -> dict[str, list[str]]:
    """policy name -> messages, over every resource the program registered (and the stack, given its requests)."""
    found: dict[str, list[str]] = defaultdict(list)
    resource_policies = [p for p in policies.build_policies() if isinstance(p, ResourceValidationPolicy)]
    for resource in run.mocks.resources:
        for policy in resource_policies:
            args = ResourceValidationArgs(
                resource.typ,
                unknown_checking_proxy(copy.deepcopy(dict(resource.inputs))),
                f"urn:pulumi:{stack}::{PROJECT}::{resource.typ}::{resource.name}",
                resource.name,
                OPTIONS,
                None,
            )
            policy.validate(args, lambda message, urn=None, name=policy.name: found[name].append(message))
    if requests is not None:
        resources = stack_resources(run, requests)
        for policy in policies.build_policies():
            if not isinstance(policy, ResourceValidationPolicy):
                policy.validate(StackValidationArgs(resources),
                                lambda message, urn=None, name=policy.name: found[name].append(message))
    return dict(found)


def checked_types(run: ProgramRun) -> list[str]:
    return sorted(r.typ for r in run.mocks.resources if r.typ in {policies.ACCOUNT, policies.DEPLOYMENT, policies.ROLE_ASSIGNMENT})


def test_dev_stack_passes_every_guardrail() -> None:
    shared = shared_run(stack_config("dev"), stack="dev")
    run = shared.run
    assert checked_types(run).count(policies.ROLE_ASSIGNMENT) == 4 and policies.ACCOUNT in checked_types(run)
    assert violations(run, "dev", shared.requests) == {}


def test_prod_example_passes_every_guardrail() -> None:
    shared = shared_run(stack_config("prod", stack_file=PROD_EXAMPLE), stack="prod")
    run = shared.run
    assert policies.ACCOUNT in checked_types(run)
    assert violations(run, "prod", shared.requests) == {}


def test_dev_settings_on_a_prod_stack_are_blocked(register_requests) -> None:  # noqa: F811
    run = run_program(stack_config("dev", {"location": "westeurope"}), stack="prod")
    found = violations(run, "prod", register_requests)
    assert set(found) == {"prod-local-auth-disabled", "prod-network-restricted", "prod-location-allowed",
                          "prod-required-tags", "prod-diagnostic-settings", "prod-account-lock"}
    assert all(len(messages) == 1 for messages in found.values())  # one account, one message per rule


@pytest.mark.parametrize(("overrides", "policy", "says"), [
    ({"diagnosticSettings": False, "logAnalyticsWorkspaceId": ""}, "prod-diagnostic-settings", "no diagnostic setting"),
    ({"lockAccount": False}, "prod-account-lock", "no CanNotDelete lock"),
    ({"tags": {"env": "prod"}}, "prod-required-tags", "['owner'] are missing"),
], ids=["no-diagnostics", "no-lock", "missing-tag"])
def test_prod_example_without_a_control_is_blocked(register_requests, overrides, policy, says) -> None:  # noqa: F811
    run = run_program(stack_config("prod", overrides, stack_file=PROD_EXAMPLE), stack="prod")
    found = violations(run, "prod", register_requests)
    assert set(found) == {policy} and says in found[policy][0]


def test_a_private_account_without_its_endpoint_is_blocked() -> None:
    """The program refuses this itself; the policy catches a stack that declares the account some other way."""
    shared = shared_run(stack_config("prod", stack_file=PROD_EXAMPLE), stack="prod")
    resources = stack_resources(shared.run, shared.requests)
    without_dns = [r for r in resources if r.resource_type != policies.DNS_ZONE_GROUP]
    without_endpoint = [r for r in without_dns if r.resource_type != policies.PRIVATE_ENDPOINT]
    config = policies.GuardrailConfig()
    [(resource, message)] = policies.check_private_endpoint_when_private(without_dns, config)
    assert resource.resource_type == policies.PRIVATE_ENDPOINT and "no private DNS zone group" in message
    [(resource, message)] = policies.check_private_endpoint_when_private(without_endpoint, config)
    assert resource.resource_type == policies.ACCOUNT and "no private endpoint" in message
    assert "privateEndpointSubnetId" in message
