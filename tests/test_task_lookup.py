"""Finding MBPP ($PROMPTGYM_MBPP_PATH, else ../shared/data) and task ids (bare MBPP numbers, other splits)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType

import pytest

from promptgym.cli import main as cli_main
from promptgym.error import DatasetNotFound, TaskNotFound
from promptgym.tasks import get_task, load_mbpp, load_tasks, normalize_task_id
from promptgym.tasks.mbpp import ENV_VAR, find_mbpp_file

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"  # where tests/conftest.py points the variable


def _load_benchmark(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture
def three_tasks(tmp_path: Path) -> Path:
    """A folder whose mbpp.jsonl holds MBPP/11-13 only."""
    lines = (SHARED / "mbpp.jsonl").read_text().splitlines()[10:13]
    (tmp_path / "mbpp.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_unset_variable_falls_back_to_shared_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)  # the fallback is found beside the package, not the working folder
    assert find_mbpp_file() == (SHARED / "mbpp.jsonl").resolve()
    assert len(load_tasks("mbpp")) == 974


def test_variable_set_right_is_the_only_place_read(three_tasks: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(load_tasks("mbpp")) == 974  # cached from the shared data first...
    monkeypatch.setenv(ENV_VAR, str(three_tasks))
    assert [t.task_id for t in load_tasks("mbpp")] == ["MBPP/11", "MBPP/12", "MBPP/13"]  # ...then not served stale


@pytest.mark.parametrize("where", ["missing-folder", "mbpp.jsonl"])
def test_variable_set_wrong_is_an_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """A folder that does not exist, or a file name there is no file at: never the fallback folder instead."""
    wrong = tmp_path / where
    monkeypatch.setenv(ENV_VAR, str(wrong))
    with pytest.raises(DatasetNotFound, match="PROMPTGYM_MBPP_PATH") as err:
        load_tasks("mbpp")
    assert str(wrong) in str(err.value) and "unset it" in str(err.value)


def test_variable_naming_the_full_file_finds_the_sanitized_one_beside_it(
        three_tasks: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = json.loads((SHARED / "sanitized-mbpp.json").read_text())[:2]
    (three_tasks / "sanitized-mbpp.json").write_text(json.dumps(records))
    monkeypatch.setenv(ENV_VAR, str(three_tasks / "mbpp.jsonl"))
    assert len(load_mbpp()) == 3
    assert len(load_mbpp(sanitized=True)) == 2  # not the full file read as the sanitized one


def test_cli_names_a_wrong_variable_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "MBPP/11", "completion": "pass"}) + "\n")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope"))
    assert cli_main(["score", str(samples), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("promptgym score:") and str(tmp_path / "nope") in err[0]


def test_benchmarks_use_the_package_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No benchmark points the variable at this machine's folder: a wrong one is refused, an unset one stays unset."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    _load_benchmark("env_step_throughput")
    assert ENV_VAR not in os.environ
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(DatasetNotFound, match="nope"):
        _load_benchmark("executor_throughput").main(["-n", "1", "--skip-docker"])


@pytest.mark.parametrize("raw", [2, "2", " 2 "])
def test_bare_mbpp_numbers_are_mbpp_ids(raw: int | str) -> None:
    assert normalize_task_id(raw) == "MBPP/2"
    assert [t.task_id for t in load_tasks("mbpp", task_ids=[raw])] == ["MBPP/2"]
    assert get_task(raw).task_id == "MBPP/2"
    assert normalize_task_id(2, "humaneval") == "2"  # only MBPP numbers its raw tasks


def test_an_id_of_another_split_names_its_split() -> None:
    with pytest.raises(TaskNotFound, match=r"^MBPP/11 is in the test split of mbpp, not train$"):
        load_tasks("mbpp", "train", task_ids=["MBPP/11"])
    with pytest.raises(TaskNotFound, match="not in mbpp"):  # not in any split: the nearest id, as before
        load_tasks("mbpp", "train", task_ids=["MBPP/9999"])


def test_score_takes_mbpp_raw_integer_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """MBPP's own files number tasks: ``"task_id": 2`` scores as MBPP/2."""
    reference = get_task("MBPP/2").reference
    path = tmp_path / "raw.jsonl"
    path.write_text(json.dumps({"task_id": 2, "completion": reference}) + "\n"
                    + json.dumps({"task_id": "2", "completion": "pass"}) + "\n")
    out = tmp_path / "report.json"
    assert cli_main(["score", str(path), "--k", "1,2", "--no-progress", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert list(report["tasks"]) == ["MBPP/2"] and report["tasks"]["MBPP/2"]["n"] == 2
    assert report["pass@1"] == pytest.approx(0.5) and report["pass@2"] == pytest.approx(1.0)
    assert capsys.readouterr().err == ""
