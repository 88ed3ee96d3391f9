"""A large generated file with a defect every K lines: every defect found, at its line, nothing else."""
from __future__ import annotations

import json

from click.testing import CliRunner

from pipeline.cli import cli

# make_dataset.py --bad-every K breaks 0-based line i when i % K == K-1, in kind (i // K) % 5:
EXPECTED_BY_KIND = [
    ["invalid_json"],                                          # truncated JSON
    ["example_missing_assistant_message"],                     # last (assistant) turn dropped: see below
    ["unrecognized_role", "example_missing_assistant_message"],  # a lone "robot" message
    ["missing_messages_list"],                                 # "msgs" instead of "messages"
    ["missing_content"],                                       # content 3
]


def test_bad_every_defects_at_expected_lines(generated) -> None:
    n, k = 2000, 37
    path = generated(n, k)
    result = CliRunner().invoke(cli, ["validate", str(path), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    (file,) = report["files"]
    assert report["ok"] is False and file["examples"] == n
    lines = path.read_text("utf-8").splitlines()

    def still_has_assistant(i: int) -> bool:
        """Kind 1 drops only the last message; a multi-turn example keeps earlier assistant turns and is valid."""
        return any(m["role"] == "assistant" for m in json.loads(lines[i])["messages"])

    expected = sorted(
        (i + 1, code)
        for i in range(n) if i % k == k - 1 and not ((i // k) % 5 == 1 and still_has_assistant(i))
        for code in EXPECTED_BY_KIND[(i // k) % 5]
    )
    assert 40 < len(expected)
    assert sorted((e["line"], e["code"]) for e in file["errors"]) == expected
    valid_kind1 = sum(1 for i in range(n) if i % k == k - 1 and (i // k) % 5 == 1 and still_has_assistant(i))
    assert 0 < valid_kind1 < n // k // 5 + 1
    assert len({line for line, _ in expected}) == n // k - valid_kind1
    assert file["error_counts"]["invalid_json"] == sum(1 for i in range(n) if i % k == k - 1 and (i // k) % 5 == 0)
