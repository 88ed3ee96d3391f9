"""From an account's ARM id to a data-plane connection, looked up when a call is made.

The stack's dynamic resources name their account by ARM id and nothing else: endpoint, auth mode and key are
read from Azure Resource Manager at call time. So a rotated key or another checkout changes nothing in Pulumi
state, a model always talks to the account that trained it, and no key is ever stored by those resources.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from pipeline.clients import DEFAULT_API_VERSION, ConnectionSettings
from pipeline.errors import ServiceError, UsageError

if TYPE_CHECKING:
    from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient

ACCOUNT_ID_PATTERN: Final = re.compile(
    r"^/subscriptions/(?P<subscription>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"/resourceGroups/(?P<group>[^/]+)"
    r"/providers/Microsoft\.CognitiveServices/accounts/(?P<name>[^/]+)$",
    re.IGNORECASE,
)


class AccountNotFound(ServiceError):
    """The account named by an ARM id does not exist (deleted, or never created)."""


@dataclass(frozen=True)
class AccountRef:
    """The parts of a Cognitive Services account id."""

    subscription_id: str
    resource_group: str
    name: str

    @classmethod
    def parse(cls, account_id: str) -> AccountRef:
        match = ACCOUNT_ID_PATTERN.match(account_id.strip())
        if match is None:
            raise UsageError(
                f"{account_id!r} is not an Azure OpenAI account id",
                hint="expected /subscriptions/<guid>/resourceGroups/<group>/providers/"
                     "Microsoft.CognitiveServices/accounts/<name>",
            )
        return cls(match["subscription"], match["group"], match["name"])

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.CognitiveServices/accounts/{self.name}")


def account_connection(
    account_id: str,
    *,
    arm: CognitiveServicesManagementClient | None = None,
    api_version: str | None = None,
    timeout: float = 60,
) -> ConnectionSettings:
    """Endpoint and (when the account allows keys) key1 of the account, read through ARM now.

    Keyless accounts (`disableLocalAuth: true`) get no key, so the client signs in with Entra ID.
    Raises `AccountNotFound` when the account is gone.
    """
    from pipeline.arm import management_client

    ref = AccountRef.parse(account_id)
    client = arm or management_client(ref.subscription_id)
    try:
        account = client.accounts.get(ref.resource_group, ref.name)
        properties = account.properties
        key = None
        if not (properties and properties.disable_local_auth):
            key = client.accounts.list_keys(ref.resource_group, ref.name).key1
    except ResourceNotFoundError as exc:
        raise AccountNotFound(f"account {ref.name} does not exist (resource group {ref.resource_group})",
                              hint="it was deleted outside Pulumi; run `pulumi refresh`, then `pulumi up`") from exc
    except HttpResponseError as exc:
        from pipeline.arm import describe_arm_error

        raise ServiceError(f"cannot read account {ref.name} through Azure Resource Manager: {describe_arm_error(exc)}",
                           hint="the identity running this needs read and listKeys on the account "
                                "(Cognitive Services Contributor, or Contributor)") from exc
    endpoint = properties.endpoint if properties else None
    if not endpoint:
        raise ServiceError(f"account {ref.name} reports no endpoint yet",
                           hint="wait until its provisioning has finished, then run `pulumi up` again")
    return ConnectionSettings(endpoint=endpoint, api_key=key, api_version=api_version or DEFAULT_API_VERSION,
                              timeout=timeout)
