"""A trained emulator world for evaluation tests: models trained on the sample data and on shuffled answers,
deployed next to the base model, and clients that reach the v1 Evals API."""
from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import openai

from pipeline.clients import ConnectionSettings, http_client, openai_client
from pipeline.emulator import EmulatorServer
from pipeline.finetune import FineTuneRequest, ensure_fine_tuned_model
from tests.pipeline.emulated import start
from tests.pipeline.emulator.conftest import put_deployment

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ROOT / "datasets" / "training_set.jsonl"
VALIDATION = ROOT / "datasets" / "validation_set.jsonl"
BASE_MODEL = "gpt-4o-mini-2024-07-18"


def shuffled_answers(source: Path, target: Path, *, seed: int = 7) -> Path:
    """The same questions with each assistant answer moved to another example (a broken dataset)."""
    examples = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    answers = [ex["messages"][-1]["content"] for ex in examples]
    order = list(range(len(answers)))
    random.Random(seed).shuffle(order)
    for example, index in zip(examples, order):
        example["messages"][-1]["content"] = answers[index]
    target.write_text("".join(json.dumps(ex) + "\n" for ex in examples), encoding="utf-8")
    return target


def v1_client(emu: EmulatorServer) -> openai.OpenAI:
    """The plain SDK on the v1 surface, as Azure documents it for evals."""
    return openai.OpenAI(base_url=f"{emu.url}/openai/v1/", api_key=emu.api_key,
                         default_headers={"api-key": emu.api_key}, max_retries=0, timeout=20, http_client=http_client())


def azure_client(emu: EmulatorServer) -> openai.AzureOpenAI:
    return openai_client(ConnectionSettings(endpoint=emu.url, api_key=emu.api_key, timeout=20))


def train(emu: EmulatorServer, training: Path, validation: Path | None = VALIDATION, *, suffix: str | None = None) -> str:
    result = ensure_fine_tuned_model(azure_client(emu), FineTuneRequest(
        training_path=training, validation_path=validation, model=BASE_MODEL, suffix=suffix),
        timeout=60, poll_interval=0.1)
    return result.fine_tuned_model


@dataclass
class World:
    emu: EmulatorServer
    good_model: str
    shuffled_model: str
    good: str = "ft-good"
    shuffled: str = "ft-shuffled"
    base: str = "base"


def build_world(emu: EmulatorServer, tmp: Path) -> World:
    good = train(emu, TRAINING, suffix="good")
    bad = train(emu, shuffled_answers(TRAINING, tmp / "shuffled.jsonl"), suffix="shuffled")
    world = World(emu, good, bad)
    put_deployment(emu, world.good, good)
    put_deployment(emu, world.shuffled, bad)
    put_deployment(emu, world.base, BASE_MODEL)
    return world


@contextmanager
def serving_world(tmp: Path) -> Iterator[World]:
    """`build_world` on a fresh emulator whose eval runs take 0.3 s; the emulator stops afterwards."""
    emu = start(eval_run_seconds=0.3)
    try:
        yield build_world(emu, tmp)
    finally:
        emu.stop()
