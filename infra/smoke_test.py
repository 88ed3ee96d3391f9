"""`SmokeTest`: the lab's Task 9 inside `pulumi up` - ask the new deployment the teacher question, keep the answer.

A dynamic resource so the answer lands in state (and in the stack output SMOKE_TEST_ANSWER). It asks on create
and again whenever what it tests changes (the account, deployment, model, question), so a retrained model is
always smoke-tested. An empty or failed answer fails the `pulumi up`. A deployment that ARM reports Succeeded can
still answer 404 for a short while, and a role just granted to the identity running `pulumi up` takes minutes to
apply, so both are waited out (with progress in the log) for `timeout_seconds`; a network that refuses this
machine fails at once with the way out (see `pipeline.smoke`).

Like `FineTunedModel`, it names its account by ARM id only and reads endpoint and key through ARM when it asks,
so a rotated key changes nothing here; the provider keeps no state of its own (it is unpickled with dill in
Pulumi's provider process).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from infra.provider_process import arm_stop_signal, sleep_unless_stopping

DEFAULT_TIMEOUT_SECONDS: Final = 600.0
RETRY_SECONDS: Final = 10.0
TESTED_KEYS: Final = ("account_id", "deployment_name", "question", "model", "few_shot")
"""A change to any of these means something new to test: ask again (an in-place update). Others (the timeout)
only steer the next ask."""


def ask_until_answered(props: dict[str, Any]) -> str:
    """`pipeline.smoke.ask_until_answered` on the resource's account, its waits logged and interruptible."""
    from pipeline.clients import openai_client
    from pipeline.connection import account_connection
    from pipeline.smoke import ask_until_answered as ask

    arm_stop_signal()
    client = openai_client(account_connection(props["account_id"]))
    return ask(client, props["deployment_name"], props["question"], few_shot=bool(props.get("few_shot", True)),
               timeout_seconds=float(props.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
               sleep_seconds=float(props.get("retry_seconds") or RETRY_SECONDS),
               on_wait=pulumi.log.info, sleep=sleep_unless_stopping)


class SmokeTestProvider(ResourceProvider):
    """Asks once per create/update; delete has nothing to remove."""

    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        answer = ask_until_answered(props)
        pulumi.log.info(f"smoke test answer from {props['deployment_name']}: {answer[:200]}")
        return CreateResult(id_=f"smoke-test/{props['deployment_name']}", outs={**props, "answer": answer})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = any(olds.get(key) != news.get(key) for key in TESTED_KEYS)
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={**news, "answer": ask_until_answered(news)})


@dataclass
class SmokeTestArgs:
    """Which deployment of which account (ARM id) to ask what. `model` is only a trigger: a new model re-runs it."""

    account_id: pulumi.Input[str]
    deployment_name: pulumi.Input[str]
    question: str
    model: pulumi.Input[str] | None = None
    few_shot: bool = True
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    retry_seconds: float = RETRY_SECONDS


class SmokeTest(Resource, module="aoai-finetune", name="SmokeTest"):
    """The deployment's answer to `question` (output `answer`)."""

    answer: pulumi.Output[str]

    def __init__(self, resource_name: str, args: SmokeTestArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "account_id": args.account_id,
            "deployment_name": args.deployment_name,
            "question": args.question,
            "model": args.model,
            "few_shot": args.few_shot,
            "timeout_seconds": args.timeout_seconds,
            "retry_seconds": args.retry_seconds,
            "answer": None,
        }
        super().__init__(SmokeTestProvider(), resource_name, props, opts)
