"""Data plane (placeholder router until the data-plane helper lands its implementation)."""
from fastapi import APIRouter

from pipeline.emulator.state import EmulatorState


def build_router(state: EmulatorState) -> APIRouter:
    return APIRouter()
