"""`aoai-ft eval` end to end against the emulator: table, JSON, PNG, answers, adoption, and clear errors."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipeline.emulated import emulator_env, run_main
from tests.pipeline.evals_world import VALIDATION, World, serving_world, v1_client


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with serving_world(tmp_path_factory.mktemp("eval-cli")) as world:
        yield world


def run(world: World, args: list[str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    for key, value in emulator_env(world.emu).items():
        monkeypatch.setenv(key, value)
    return run_main(["eval", *args, "--poll", "0.05"], capsys)


def test_compares_deployments_side_by_side_and_writes_the_picture_and_answers(world, capsys, monkeypatch,
                                                                              tmp_path: Path) -> None:
    png, answers = tmp_path / "eval.png", tmp_path / "answers.jsonl"
    code, out, err = run(world, [str(VALIDATION), "-d", world.good, "-d", world.shuffled, "-d", world.base,
                                 "--png", str(png), "--answers", str(answers)], capsys, monkeypatch)
    assert code == 0, err
    assert "pass rate" in out and world.good in out and world.base in out
    (row,) = [line for line in out.splitlines() if "pass rate" in line]
    good, shuffled, base = (int(cell.strip().rstrip("%")) for cell in row.split("│")[2:5])
    assert good >= base + 40 and shuffled <= base + 7, row
    assert "created eval" in err and "started run" in err and "16/16" in err  # progress per deployment
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    lines = [json.loads(line) for line in answers.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 48 and {line["deployment"] for line in lines} == {world.good, world.shuffled, world.base}
    first = lines[0]
    assert set(first) >= {"question", "reference", "answer", "status", "scores"} and "fuzzy_match" in first["scores"]


def test_json_output_and_running_again_adopts_the_eval_and_runs(world, capsys, monkeypatch) -> None:
    args = ["-d", world.good, "-d", world.base, "--criteria", "fuzzy_match>=0.6,rouge_l>=0.2", "--json"]
    code, out, err = run(world, args, capsys, monkeypatch)
    assert code == 0, err
    first = json.loads(out)
    good, base = (next(r for r in first["results"] if r["deployment"] == d) for d in (world.good, world.base))
    assert good["pass_rate"] > base["pass_rate"] + 0.3
    assert set(good["per_criterion"]) == {"fuzzy_match", "rouge_l"} and good["total"] == 16
    assert not good["adopted"]
    code, out, err = run(world, args, capsys, monkeypatch)
    again = json.loads(out)
    assert code == 0 and "adopted eval" in err
    assert again["eval_id"] == first["eval_id"]
    assert [r["run_id"] for r in again["results"]] == [r["run_id"] for r in first["results"]]
    assert all(r["adopted"] for r in again["results"])
    client = v1_client(world.emu)
    assert len(list(client.evals.runs.list(first["eval_id"]))) == 2  # nothing was paid twice
    code, out, _ = run(world, [*args, "--fresh"], capsys, monkeypatch)
    assert code == 0 and len(list(client.evals.runs.list(first["eval_id"]))) == 4


def test_held_out_lines_with_their_own_context_are_sent_as_they_are(world, capsys, monkeypatch, tmp_path) -> None:
    """Lines that do not share the system message and few-shot turns: each item carries its messages."""
    lines = VALIDATION.read_text(encoding="utf-8").splitlines()[:3]
    varied = [json.loads(line) for line in lines]
    varied[1]["messages"][0]["content"] = "You are terse."
    varied[2]["messages"][1:1] = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    path = tmp_path / "varied.jsonl"
    path.write_text("".join(json.dumps(v) + "\n" for v in varied), encoding="utf-8")
    code, out, err = run(world, [str(path), "-d", world.base, "--json"], capsys, monkeypatch)
    assert code == 0, err
    result = json.loads(out)
    client = v1_client(world.emu)
    items = list(client.evals.runs.output_items.list(result["results"][0]["run_id"], eval_id=result["eval_id"]))
    sent = {i.datasource_item_id: [m.content for m in i.sample.input] for i in items}
    assert sent[1][0] == "You are terse." and sent[2][1:3] == ["Hi", "Hello!"]


@pytest.mark.parametrize(("args", "code", "message"), [
    (["-d", "x", "--criteria", "fuzzy_match"], 2, "needs a pass threshold"),
    (["-d", "x", "--criteria", "levenshtein>=0.5"], 2, "unknown kind 'levenshtein'"),
    (["-d", "x", "--criteria", "rouge_l>=1.5"], 2, "between 0 and 1"),
    (["missing.jsonl", "-d", "x"], 2, "cannot read missing.jsonl"),
    ([], 2, "no deployment to evaluate"),
    (["-d", "x", "-d", "x"], 2, "named twice"),
    (["-d", "no-such-deployment"], 1, "DeploymentNotFound"),
])
def test_bad_input_is_one_clear_error(world, capsys, monkeypatch, args, code: int, message: str) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[3])
    got, out, err = run(world, args, capsys, monkeypatch)
    assert got == code, err
    assert message in err and "Traceback" not in err + out
    assert "hint:" in err


def test_a_file_not_in_the_training_format_names_the_line(world, capsys, monkeypatch, tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n'
                    '{"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}]}\n')
    code, _, err = run(world, [str(path), "-d", world.base], capsys, monkeypatch)
    assert code == 2 and f"{path}:2" in err and "user question and the assistant's answer" in err


def test_checkpoints_compare_like_any_deployment_and_earlier_ones_learned_less(world, capsys, monkeypatch) -> None:
    from tests.pipeline.emulator.conftest import put_deployment
    from tests.pipeline.evals_world import azure_client

    client = azure_client(world.emu)
    job = next(j for j in client.fine_tuning.jobs.list() if j.fine_tuned_model == world.good_model)
    checkpoints = sorted(client.fine_tuning.jobs.checkpoints.list(job.id), key=lambda c: c.step_number)
    assert len(checkpoints) >= 2
    assert checkpoints[0].fine_tuned_model_checkpoint.startswith(f"{world.good_model}:ckpt-step-")
    put_deployment(world.emu, "ckpt-first", checkpoints[0].fine_tuned_model_checkpoint)
    code, out, err = run(world, ["-d", "ckpt-first", "-d", world.good, "--json"], capsys, monkeypatch)
    assert code == 0, err
    early, final = (r["pass_rate"] for r in json.loads(out)["results"])
    assert early < final


@pytest.mark.parametrize("option", ["--png", "--answers"])
def test_an_output_path_that_cannot_be_written_fails_before_any_run(world, capsys, monkeypatch, tmp_path,
                                                                   option: str) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a directory\n")
    before = [e.id for e in v1_client(world.emu).evals.list()]
    code, out, err = run(world, [str(VALIDATION), "-d", world.base, "--name", f"unwritable {option}",
                                 option, str(in_the_way / "sub" / "out")], capsys, monkeypatch)
    assert code == 2, err
    assert f"Error: cannot write {in_the_way / 'sub' / 'out'}: {in_the_way} is a file, not a directory" in err
    assert f"hint: pass {option} a path in a directory you can write to" in err and "Traceback" not in err + out
    assert [e.id for e in v1_client(world.emu).evals.list()] == before  # nothing was started (or paid for)
