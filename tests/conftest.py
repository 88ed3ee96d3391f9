"""Hermetic test environment: no Azure credentials or OpenAI settings leak in from the developer's shell,
and nothing can reach the network except loopback."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT / "datasets"

_LEAKY_PREFIXES = ("AZURE_", "OPENAI_", "PULUMI_", "ARM_", "MSI_", "IDENTITY_")


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for key in list(os.environ):
        if key.startswith(_LEAKY_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    # the output width is what a test sets, not the shell's (pytest-xdist workers get COLUMNS=80 LINES=24)
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    # each test its own (empty) cache of validation reports, never the developer's
    monkeypatch.setenv("AOAI_FT_CACHE_DIR", str(tmp_path_factory.mktemp("aoai-ft-cache")))


@pytest.fixture(autouse=True)
def _quick_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process the openai SDK retries after 10-80 ms instead of 0.5-8 s of exponential back-off: the tests
    count retries and check what survives them, not how long the SDK sleeps. A Retry-After the emulator sends is
    still honoured, and CLI subprocesses keep the SDK's own back-off."""
    import openai._base_client as sdk

    monkeypatch.setattr(sdk, "INITIAL_RETRY_DELAY", 0.01)
    monkeypatch.setattr(sdk, "MAX_RETRY_DELAY", 0.08)


@pytest.fixture
def datasets_dir() -> Path:
    return DATASETS


# ---- emulator fixtures (data-plane helper): other helpers' tests use these --------------------------------
EMULATOR_TRAINING_SECONDS = 1.5


@pytest.fixture
def emulator():
    """A fresh in-memory emulator on a free loopback port (training takes 1.5 s, file checks 0.2 s)."""
    from pipeline.emulator import EmulatorConfig, EmulatorServer

    config = EmulatorConfig(port=0, training_seconds=EMULATOR_TRAINING_SECONDS, file_processing_seconds=0.2,
                            log_requests=False)
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture
def openai_client(emulator):
    """The official SDK pointed at the emulator, as the pipeline builds it (GA api-version 2024-10-21)."""
    import openai

    return openai.AzureOpenAI(azure_endpoint=emulator.url, api_key=emulator.api_key, api_version="2024-10-21")


@pytest.fixture
def fast_emulator():
    """A fresh in-memory emulator where training takes 2 s (see tests.pipeline.emulated.FAST)."""
    from tests.pipeline.emulated import start

    emu = start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def client(fast_emulator):
    """The pipeline's own `AzureOpenAI` client for `fast_emulator`."""
    from tests.pipeline.emulated import make_client

    return make_client(fast_emulator)


@pytest.fixture
def emulated_arm(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    """A running emulator with the env pointing `pipeline.arm` at it (see tests.infra.emulated_arm)."""
    import logging

    from pipeline import arm as arm_module, envnames
    from pipeline.emulator import EmulatorConfig, EmulatorServer
    from tests.infra.emulated_arm import TOKEN, EmulatedArm

    caplog.set_level(logging.INFO, logger="aoai_ft.emulator")
    server = EmulatorServer(EmulatorConfig(port=0, arm_token=TOKEN)).start()
    monkeypatch.setenv(envnames.AZURE_RESOURCE_MANAGER_ENDPOINT, server.url)
    monkeypatch.setenv(arm_module.ARM_TOKEN_ENV, TOKEN)
    try:
        yield EmulatedArm(server, caplog)
    finally:
        server.stop()


# ---- running in parallel (pytest-xdist, `dev.py test` uses `-n 4 --dist loadgroup`) ----------------------------
SLOW_FIRST = (
    "tests/test_readme_cli.py",
    "tests/pipeline/commands/test_demo.py",
    "tests/infra/test_provider_host.py",
    "tests/infra/test_fine_tuned_model.py",
    "tests/pipeline/emulator/test_dataplane_fuzz.py",
    "tests/pipeline/commands/test_deploy_failures.py",
    "tests/pipeline/test_jobs.py",
    "tests/infra/test_provider_host_evaluation.py",
    "tests/pipeline/emulator/test_evals_api.py",
    "tests/pipeline/commands/test_eval.py",
    "tests/pipeline/commands/test_train.py",
    "tests/pipeline/commands/test_connection_errors.py",
    "tests/pipeline/commands/test_cli_inputs.py",
)
"""Modules with the longest tests, started first: spread over the workers they finish before the many short tests
do, instead of one of them starting last and running alone."""


def _slow_rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return SLOW_FIRST.index(path) if path in SLOW_FIRST else len(SLOW_FIRST)


def _shares_a_module_fixture(item: pytest.Item) -> bool:
    fixture_info = getattr(item, "_fixtureinfo", None)
    if fixture_info is None:
        return False
    return any(defs[-1].scope in ("module", "package") for defs in fixture_info.name2fixturedefs.values() if defs)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slowest modules first (stable otherwise); the tests that share a module-scoped fixture (a trained model, a
    fuzzed emulator) run in one worker (`--dist loadgroup`), so it is built once, not once per worker."""
    items.sort(key=_slow_rank)
    for item in items:
        if _shares_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
