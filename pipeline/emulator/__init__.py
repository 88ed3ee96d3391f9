"""A local Azure OpenAI account (data plane) plus the slice of Azure Resource Manager the project uses.

Tests, the offline demo and users' own CI run against it; the official SDKs should not be able to tell the
difference. Start it in-process with `EmulatorServer`, or from the shell with `aoai-ft emulator`. Its server
dependencies are the `[emulator]` extra (see `extra`).
"""
from pipeline.emulator.extra import require_extra

require_extra()  # before anything imports fastapi/uvicorn: one clear error naming the extra

from pipeline.emulator.config import EmulatorConfig, FaultRule  # noqa: E402
from pipeline.emulator.server import EmulatorServer  # noqa: E402

__all__ = ["EmulatorConfig", "EmulatorServer", "FaultRule"]
