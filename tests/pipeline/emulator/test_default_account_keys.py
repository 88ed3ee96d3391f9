"""The default account's key2 is a secret of its own: random, not derivable from key1, kept across restarts."""
from __future__ import annotations

from pathlib import Path


from pipeline.emulator import EmulatorConfig, EmulatorServer
from tests import loopback

ARM_KEYS = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-emulator/providers/"
            "Microsoft.CognitiveServices/accounts/emulator/listKeys?api-version=2025-06-01")


def keys(emu: EmulatorServer) -> dict[str, str]:
    r = loopback.post(emu.url + ARM_KEYS, headers={"Authorization": "Bearer t"})
    r.raise_for_status()
    return r.json()


def models_status(emu: EmulatorServer, key: str) -> int:
    return loopback.get(f"{emu.url}/openai/models?api-version=2024-10-21", headers={"api-key": key}).status_code


def test_key2_is_random_and_works(tmp_path: Path) -> None:
    config = EmulatorConfig(port=0, log_requests=False, api_key="emulator-key", data_dir=tmp_path / "d")
    with EmulatorServer(config) as emu:
        first = keys(emu)
        assert first["key1"] == "emulator-key"
        assert first["key2"] not in (first["key1"], first["key1"][::-1]) and len(first["key2"]) >= 32
        assert models_status(emu, first["key2"]) == 200
        assert models_status(emu, first["key1"][::-1]) == 401
    with EmulatorServer(config.model_copy(update={"port": 0})) as emu:  # restart on the same data dir
        assert keys(emu) == first
    with EmulatorServer(EmulatorConfig(port=0, log_requests=False, api_key="emulator-key")) as other:
        assert keys(other)["key2"] != first["key2"]
