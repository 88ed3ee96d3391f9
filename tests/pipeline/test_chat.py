"""The smoke-test conversation is the lab's Task 9, word for word."""
from __future__ import annotations

import re

from pipeline.chat import FEW_SHOT_ANSWER, FEW_SHOT_QUESTION, SMOKE_TEST_QUESTION, SYSTEM_MESSAGE, smoke_test_messages
from tests.paths import LAB_TASK9



def test_messages_shape() -> None:
    msgs = smoke_test_messages()
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[0]["content"] == SYSTEM_MESSAGE and msgs[-1]["content"] == SMOKE_TEST_QUESTION
    assert [m["role"] for m in smoke_test_messages("Q?", few_shot=False)] == ["system", "user"]


def test_texts_match_the_lab() -> None:
    lab = re.sub(r"\s+", " ", LAB_TASK9.read_text(encoding="utf-8"))
    assert f"**{SYSTEM_MESSAGE}**" in lab
    assert f"**User**: {FEW_SHOT_QUESTION}" in lab
    assert f"**Assistant**: {FEW_SHOT_ANSWER}" in lab
    assert f"> {SMOKE_TEST_QUESTION}" in lab
