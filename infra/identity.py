"""Who runs `pulumi up`, what type of principal that is, and which roles it needs for the stack's own steps.

ARM refuses a role assignment whose principalType does not match the principal (UnmatchedPrincipalType), after
the account already exists. The program can tell the runner's type before any resource:
- the azure-native provider signs in as a service principal (or managed identity, which role assignments also call
  ServicePrincipal) when ARM_CLIENT_SECRET, ARM_CLIENT_CERTIFICATE_PATH, ARM_USE_OIDC=true or ARM_USE_MSI=true is
  set, in the environment or as `azure-native:` provider config (same order as the provider: `pipeline.credentials`);
- otherwise it uses `az login`; getClientConfig's clientId is the token's `appid` claim (azure-native
  auth_getclientconfig.go), which for a user signed in to the Azure CLI is the CLI's own application id.
An empty `principalType` means "the runner's own type" when `principalId` is empty (the runner gets the roles).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from infra import naming
from infra.settings import PROJECT_NAME, StackConfigError, StackSettings
from pipeline import credentials
from pipeline.errors import UsageError

AZURE_CLI_APP_ID: Final = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
"""Application (client) id of the Azure CLI (Microsoft first-party app): the `appid` of a user's `az login` token."""

PROVIDER_KEYS: Final[Mapping[str, str]] = {
    "useDefaultAzureCredential": credentials.ARM_USE_DEFAULT_AZURE_CREDENTIAL,
    "clientCertificatePath": credentials.ARM_CLIENT_CERTIFICATE_PATH,
    "clientSecret": credentials.ARM_CLIENT_SECRET,
    "useOidc": credentials.ARM_USE_OIDC,
    "useMsi": credentials.ARM_USE_MSI,
}
"""azure-native provider config keys that choose the sign-in, and the ARM_* variable each stands for."""


@dataclass(frozen=True)
class RunnerType:
    """The runner's principal type, when the program can tell, and what told it."""

    principal_type: Literal["User", "ServicePrincipal"] | None
    reason: str


def runner_type(client_id: str, environ: Mapping[str, str] | None = None,
                provider_config: Mapping[str, str] | None = None) -> RunnerType:
    """The runner's type from azure-native's sign-in settings, else from getClientConfig's client id."""
    env = dict(os.environ if environ is None else environ)
    for key, variable in PROVIDER_KEYS.items():  # provider config wins over the environment, as in azure-native
        value = (provider_config or {}).get(key)
        if value:
            env[variable] = value
    try:
        choice = credentials.credential_choice(env)
    except UsageError as exc:
        raise StackConfigError(exc.message, hint=exc.hint) from None
    if choice.is_service_principal:
        return RunnerType("ServicePrincipal", f"{choice.variable} is set, so azure-native signs in as an application")
    if client_id.lower() == AZURE_CLI_APP_ID:
        return RunnerType("User", "azure-native uses a user's `az login` (the Azure CLI's client id)")
    if client_id:
        return RunnerType("ServicePrincipal", f"azure-native signs in as application {client_id}")
    return RunnerType(None, "unknown")


def resolve_principal_type(settings: StackSettings, runner: RunnerType) -> str:
    """The principalType to send; a StackConfigError naming the key when it cannot be right."""
    key = f"{PROJECT_NAME}:principalType"
    declared = settings.principal_type
    if settings.principal_id:
        if not declared:
            raise StackConfigError(
                f"{key} is empty but {PROJECT_NAME}:principalId names {settings.principal_id}: the program cannot "
                "tell whether that is a user, a group or a service principal",
                hint=f"pulumi config set {key} Group   (or User / ServicePrincipal)")
        return declared
    if declared == "Group":
        raise StackConfigError(
            f"{key} is Group but {PROJECT_NAME}:principalId is empty, so the roles go to the identity running "
            "`pulumi up`, which is never a group",
            hint=f"pulumi config set {PROJECT_NAME}:principalId <group object id>, or pulumi config set {key} ''")
    if declared and runner.principal_type and declared != runner.principal_type:
        raise StackConfigError(
            f"{key} is {declared} but {PROJECT_NAME}:principalId is empty and `pulumi up` runs as a "
            f"{runner.principal_type} ({runner.reason}); ARM would refuse the role assignments",
            hint=f"pulumi config set {key} ''   (empty = the runner's own type), or {runner.principal_type}")
    resolved = declared or runner.principal_type
    if not resolved:
        raise StackConfigError(f"{key} is empty and the program cannot tell what signs in to Azure",
                               hint=f"pulumi config set {key} User   (or ServicePrincipal)")
    return resolved


def runner_role_grants(settings: StackSettings) -> tuple[naming.RoleGrant, ...]:
    """Data-plane roles the runner needs for the stack's own steps when `principalId` names someone else.

    Only keyless accounts need them (with keys, training and the smoke test use the key): keyless training
    uploads files and creates jobs (Cognitive Services OpenAI Contributor, whose dataActions also cover chat);
    the smoke test alone only chats (Cognitive Services OpenAI User).
    """
    if not settings.disable_local_auth:
        return ()
    if settings.mode == "train":
        return (naming.OPENAI_CONTRIBUTOR,)
    return (naming.OPENAI_USER,)  # promote mode always smoke-tests


def runner_grant(grant: naming.RoleGrant) -> naming.RoleGrant:
    """The same role under its own resource key, so it never collides with the principal's assignment."""
    return naming.RoleGrant(f"runner-{grant.key}", grant.display_name, grant.role_guid, grant.scope)
