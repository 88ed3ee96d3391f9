"""Names of the environment variables the app reads, which are also the Pulumi stack's output names.

One place, shared by infra/, pipeline/ and tests/ (the azd convention: outputs named like the env vars).
"""
from typing import Final

AZURE_OPENAI_ENDPOINT: Final = "AZURE_OPENAI_ENDPOINT"
AZURE_OPENAI_API_KEY: Final = "AZURE_OPENAI_API_KEY"
AZURE_OPENAI_RESOURCE_NAME: Final = "AZURE_OPENAI_RESOURCE_NAME"
AZURE_OPENAI_ACCOUNT_ID: Final = "AZURE_OPENAI_ACCOUNT_ID"
AZURE_OPENAI_DEPLOYMENT: Final = "AZURE_OPENAI_DEPLOYMENT"
AZURE_RESOURCE_GROUP: Final = "AZURE_RESOURCE_GROUP"
AZURE_SUBSCRIPTION_ID: Final = "AZURE_SUBSCRIPTION_ID"
OPENAI_API_VERSION: Final = "OPENAI_API_VERSION"
FINE_TUNED_MODEL: Final = "FINE_TUNED_MODEL"
FINE_TUNING_JOB_ID: Final = "FINE_TUNING_JOB_ID"
# The model the stack's deployment serves: FINE_TUNED_MODEL, or the checkpoint deployCheckpoint chose.
DEPLOYED_MODEL: Final = "DEPLOYED_MODEL"
SMOKE_TEST_ANSWER: Final = "SMOKE_TEST_ANSWER"
# The evaluation on the held-out set: fine-tuned and base pass rates (0..1) and the fine-tuned model's eval run.
EVAL_PASS_RATE: Final = "EVAL_PASS_RATE"
EVAL_BASE_PASS_RATE: Final = "EVAL_BASE_PASS_RATE"
EVAL_RUN_ID: Final = "EVAL_RUN_ID"
# prod stacks: {stack, model, accountId} of the stack the deployed model was promoted from
PROMOTED_FROM: Final = "PROMOTED_FROM"
# Where the ARM plane lives; real Azure by default, the emulator in tests and the demo.
AZURE_RESOURCE_MANAGER_ENDPOINT: Final = "AZURE_RESOURCE_MANAGER_ENDPOINT"
# A static ARM bearer token for the emulator; unset = the azure-native identity (pipeline.credentials).
AZURE_RESOURCE_MANAGER_TOKEN: Final = "AZURE_RESOURCE_MANAGER_TOKEN"

SECRET_OUTPUTS: Final = frozenset({AZURE_OPENAI_API_KEY})
