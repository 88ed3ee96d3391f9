"""The guardrails against what the real program registers: run infra/ under Pulumi mocks with the shipped stack
files, then put every recorded resource's inputs through every policy, as `pulumi up --policy-pack policy` would."""
from __future__ import annotations

import copy
from collections import defaultdict

from pulumi_policy import ResourceValidationArgs
from pulumi_policy.policy import PolicyCustomTimeouts, PolicyResourceOptions
from pulumi_policy.proxy import unknown_checking_proxy

from policy import policies
from tests.infra.pulumi_harness import PROJECT, ROOT, ProgramRun, run_program, stack_config

PROD_EXAMPLE = ROOT / "Pulumi.prod.yaml.example"


def violations(run: ProgramRun, stack: str) -> dict[str, list[str]]:
    """policy name -> messages, over every resource the program registered."""
    found: dict[str, list[str]] = defaultdict(list)
    for resource in run.mocks.resources:
        for policy in policies.build_policies():
            args = ResourceValidationArgs(
                resource.typ,
                unknown_checking_proxy(copy.deepcopy(dict(resource.inputs))),
                f"urn:pulumi:{stack}::{PROJECT}::{resource.typ}::{resource.name}",
                resource.name,
                PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), []),
                None,
            )
            policy.validate(args, lambda message, urn=None, name=policy.name: found[name].append(message))
    return dict(found)


def checked_types(run: ProgramRun) -> list[str]:
    return sorted(r.typ for r in run.mocks.resources if r.typ in {policies.ACCOUNT, policies.DEPLOYMENT, policies.ROLE_ASSIGNMENT})


def test_dev_stack_passes_every_guardrail() -> None:
    run = run_program(stack_config("dev"), stack="dev")
    assert checked_types(run).count(policies.ROLE_ASSIGNMENT) == 4 and policies.ACCOUNT in checked_types(run)
    assert violations(run, "dev") == {}


def test_prod_example_passes_every_guardrail() -> None:
    run = run_program(stack_config("prod", stack_file=PROD_EXAMPLE), stack="prod")
    assert policies.ACCOUNT in checked_types(run)
    assert violations(run, "prod") == {}


def test_dev_settings_on_a_prod_stack_are_blocked() -> None:
    run = run_program(stack_config("dev", {"location": "westeurope"}), stack="prod")
    found = violations(run, "prod")
    assert set(found) == {"prod-local-auth-disabled", "prod-network-restricted", "prod-location-allowed"}
    assert all(len(messages) == 1 for messages in found.values())  # one account, one message per rule
