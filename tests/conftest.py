"""Hermetic test environment: no Azure credentials or OpenAI settings leak in from the developer's shell,
and nothing can reach the network except loopback."""
from __future__ import annotations

import gc
import os
import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT / "datasets"

if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    # Started in the background by a non-interactive shell, the run ignores SIGINT, and so would every process it
    # starts: the tests that interrupt a CLI, the emulator or a provider host need Ctrl-C to mean what it does for
    # a user.
    signal.signal(signal.SIGINT, signal.default_int_handler)

_LEAKY_PREFIXES = ("AZURE_", "OPENAI_", "PULUMI_", "ARM_", "MSI_", "IDENTITY_")


def hermetic_environment(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    """The environment every test starts in (also used by tests/infra/pulumi_harness.py's shared program runs)."""
    for key in list(os.environ):
        if key.startswith(_LEAKY_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    # the output width is what a test sets, not the shell's (pytest-xdist workers get COLUMNS=80 LINES=24)
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    # each test its own (empty) cache of validation reports, never the developer's
    monkeypatch.setenv("AOAI_FT_CACHE_DIR", str(cache_dir))


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    hermetic_environment(monkeypatch, tmp_path_factory.mktemp("aoai-ft-cache"))


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

    from pipeline.clients import http_client

    return openai.AzureOpenAI(azure_endpoint=emulator.url, api_key=emulator.api_key, api_version="2024-10-21",
                              http_client=http_client())


@pytest.fixture
def fast_emulator():
    """A fresh in-memory emulator where training takes 1 s (see tests.pipeline.emulated.FAST)."""
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


# ---- running in parallel (pytest-xdist, `dev.py test` uses `-n 5 --dist loadgroup`) ----------------------------
SLOW_FIRST = (
    "tests/pipeline/commands/test_demo.py",
    "tests/pipeline/commands/test_deploy_failures.py",
    "tests/test_readme_cli.py",
    "tests/test_readme_training_methods.py",
    "tests/infra/test_provider_host_evaluation.py",
    "tests/infra/test_provider_host.py",
    "tests/pipeline/commands/test_eval.py",
    "tests/pipeline/emulator/test_crash_recovery.py",
    "tests/pipeline/commands/test_report.py",
    "tests/pipeline/emulator/test_evals_api.py",
    "tests/pipeline/commands/test_counts.py",
    "tests/pipeline/dataset/test_long_lines.py",
    "tests/pipeline/test_jobs.py",
    "tests/infra/test_fine_tuned_model.py",
    "tests/pipeline/emulator/test_dataplane_fuzz.py",
    "tests/pipeline/commands/test_train.py",
    "tests/pipeline/commands/test_cli_inputs.py",
)
"""Modules with the longest tests (by their slowest test's wall time), started first: spread over the workers they
finish before the many short tests do, instead of one of them starting last and running alone."""


def _slow_rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return SLOW_FIRST.index(path) if path in SLOW_FIRST else len(SLOW_FIRST)


SHARED_FIXTURE_MODULES = frozenset({
    "tests/pipeline/commands/test_eval.py",             # a trained model and its deployments
    "tests/pipeline/emulator/test_evals_api.py",        # the same
    "tests/infra/test_provider_host_evaluation.py",     # the same, plus a provider host
    "tests/pipeline/dataset/test_long_lines.py",        # a file with a huge line
    "tests/policy/test_pack.py",                        # the policy pack's analyzer process
    "tests/infra/test_program.py",                      # one run of the dev stack under mocks
    "tests/infra/test_promotion.py",                    # one run of the prod stack under mocks
    "tests/infra/test_prod_controls.py",                # one run of the prod example under mocks
    "tests/infra/test_training_program.py",             # runs of the dev stack, each read by several tests
    "tests/pipeline/emulator/test_dataplane_fuzz.py",   # schemathesis and the parsed spec (~0.5 CPU-s to load)
})
"""Modules whose tests share an expensive module-scoped fixture (or the same `shared_run` of
tests/infra/pulumi_harness.py): under `--dist loadgroup` each runs in one worker, so the fixture is built once, not
once per worker. Every other test is scheduled on its own."""


def pytest_configure(config: pytest.Config) -> None:
    """With pytest-xdist, the controlling process starts the warm `aoai-ft` server its workers share (it imports
    while they collect); it stops when the run ends."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        from tests.warm_cli import start_shared

        server = start_shared()
        config.add_cleanup(server.close)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadgroup` by module for SHARED_FIXTURE_MODULES. (pytest-xdist's own loadgroup renames node ids to
    group them, which pytest 9 no longer allows, so its `xdist_group` marker groups nothing.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in SHARED_FIXTURE_MODULES else nodeid

    config.option.loadscopereorder = False  # keep SLOW_FIRST's order, not biggest group first
    return SharedFixtureScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slowest modules first, the rest in their usual order."""
    items.sort(key=_slow_rank)


gc.disable()
"""No cyclic garbage collection while the test modules import pytest's plugins, pulumi, the SDKs and the project:
imports allocate much and free little, and the full collections they trigger took a fifth of collection's CPU.
Enabled again (after the freeze below) before the first test."""


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """What collecting imported (pytest and its plugins, pulumi, azure-native's modules, the project) stays until the
    process ends: frozen, the cyclic garbage collector no longer walks it on every full collection, which took about
    a sixth of the CPU of the tests that run the Pulumi program in-process. Objects made by the tests are collected
    as before; refcounting frees frozen ones as usual, only a cycle among them would stay."""
    gc.freeze()
    gc.enable()
