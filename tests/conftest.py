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
    # each test its own (empty) cache of validation reports, never the developer's
    monkeypatch.setenv("AOAI_FT_CACHE_DIR", str(tmp_path_factory.mktemp("aoai-ft-cache")))


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
