"""A local Azure OpenAI account (data plane) plus the slice of Azure Resource Manager the project uses.

Tests, the offline demo and users' own CI run against it; the official SDKs should not be able to tell the
difference. Start it in-process with `EmulatorServer`, or from the shell with `aoai-ft emulator`.
"""
from pipeline.emulator.config import EmulatorConfig, FaultRule
from pipeline.emulator.server import EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorServer", "FaultRule"]
