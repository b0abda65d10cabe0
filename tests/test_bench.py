"""The benchmark harness: third-party agents from the command line, leaderboards, resume, rliable CIs,
the Minari export and the report. Scripted coder and a few episodes: fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import promptgym  # noqa: F401  (registers the envs)

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "Executive-MBPP-v1" if "Executive-MBPP-v1" in gym.registry else "Executive-MBPP-v0"
TASKS = ["MBPP/11", "MBPP/12"]
ENV_KWARGS = {"split": "test", "embedder": "hash", "coder": "scripted"}

# A third-party agent, defined outside the package. Each factory call (one per episode) is logged, and
# the call number BENCH_TEST_INTERRUPT_AT (if set) raises KeyboardInterrupt, as a Ctrl-C would.
AGENT_MODULE = textwrap.dedent('''
    import os
    import numpy as np

    class FirstValidThenStop:
        def __init__(self, seed):
            self.t = 0

        def predict(self, obs, info):
            valid = np.flatnonzero(info["action_mask"])
            self.t += 1
            return int(valid[0] if self.t <= 2 else valid[-1])

    def make_agent(seed, action_space):
        log = os.environ.get("BENCH_TEST_LOG")
        calls = 0
        if log:
            with open(log, "a") as fh:
                fh.write(f"{seed}\\n")
            calls = sum(1 for _ in open(log))
        if str(calls) == os.environ.get("BENCH_TEST_INTERRUPT_AT"):
            raise KeyboardInterrupt
        return FirstValidThenStop(seed)
''')


@pytest.fixture(scope="module")
def agent_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("third_party")
    (folder / "my_bench_agent.py").write_text(AGENT_MODULE)
    return folder


@pytest.fixture(scope="module")
def cli_run(agent_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three agents, one of them third-party by module:factory, from the command line, two worker processes."""
    out = tmp_path_factory.mktemp("bench") / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(agent_dir), str(ROOT)]),
           "BENCH_TEST_LOG": str(agent_dir / "calls.log")}
    cmd = [sys.executable, "-m", "promptgym.cli", "bench", "--agent", "mine=my_bench_agent:make_agent",
           "--agent", "baseline:random", "--agent", "baseline:heuristic", "--envs", ENV_ID,
           "--tasks", ",".join(TASKS), "--seeds", "0,1", "--env-kwargs", *(f"{k}={v}" for k, v in ENV_KWARGS.items()),
           "--workers", "2", "--reps", "200", "--out", str(out), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=agent_dir, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_third_party_agent_by_module_factory_from_the_command_line(cli_run: Path, agent_dir: Path) -> None:
    results = json.loads((cli_run / "results.json").read_text())
    eps = results["episodes"]
    assert len(eps) == 3 * 2 * len(TASKS)  # agents x seeds x tasks
    mine = [e for e in eps if e["agent"] == "mine"]
    assert len(mine) == 4 and all(e["agent_spec"] == "my_bench_agent:make_agent" for e in mine)
    assert [e["task_id"] for e in mine] == TASKS * 2
    assert len((agent_dir / "calls.log").read_text().split()) == 4  # the factory ran once per episode
    header = results["header"]
    assert header["suite"]["name"] == "custom" and header["seeds"] == [0, 1]
    assert header["envs"][ENV_ID]["settings"]["coder"] == "scripted"
    assert header["envs"][ENV_ID]["settings"]["sandbox"] == "process"
    assert header["packages"]["rliable"] and header["packages"]["promptgym"]
    for e in eps:
        assert isinstance(e["success"], bool) and e["llm_calls"] is not None and e["tokens"] is not None
        assert (e["failure_class"] is None) == e["success"]


def test_three_agent_leaderboard(cli_run: Path) -> None:
    md = (cli_run / "leaderboard.md").read_text()
    for agent in ("mine", "baseline:random", "baseline:heuristic"):
        assert f"| {agent} |" in md
    import csv

    with open(cli_run / "leaderboard.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["rank"] for r in rows] == ["1", "2", "3"] and {r["scope"] for r in rows} == {ENV_ID}
    iqms = [float(r["success_iqm"]) for r in rows]
    assert iqms == sorted(iqms, reverse=True)  # ranked by IQM
    assert float(rows[0]["success_iqm_low"]) <= float(rows[0]["success_iqm"]) <= float(rows[0]["success_iqm_high"])


def _without_timing(eps: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "wall_s"} for e in eps]


def test_interrupted_run_resumes_without_redoing_finished_episodes(agent_dir: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import run
    from benchmarks.harness.runner import BenchInterrupted

    monkeypatch.syspath_prepend(str(agent_dir))
    kwargs = {"agents": ["mine=my_bench_agent:make_agent"], "envs": [ENV_ID], "tasks": TASKS, "seeds": [0, 1],
              "env_kwargs": ENV_KWARGS, "progress": False, "reps": 50}
    log = tmp_path / "calls.log"
    monkeypatch.setenv("BENCH_TEST_LOG", str(log))
    monkeypatch.setenv("BENCH_TEST_INTERRUPT_AT", "3")  # Ctrl-C while the third episode starts
    out = tmp_path / "run"
    with pytest.raises(BenchInterrupted, match="run the same command again to resume"):
        run(out=out, **kwargs)
    lines = (out / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 2
    with open(out / "episodes.jsonl", "a") as fh:  # and a line cut short, as a kill mid-write leaves
        fh.write(lines[0][: len(lines[0]) // 2])
    monkeypatch.delenv("BENCH_TEST_INTERRUPT_AT")
    log.write_text("")
    resumed = run(out=out, **kwargs)
    assert len(log.read_text().split()) == 2  # only the two missing episodes ran
    assert len(resumed["episodes"]) == 4
    fresh = run(out=tmp_path / "fresh", **kwargs)
    assert _without_timing(resumed["episodes"]) == _without_timing(fresh["episodes"])


def test_confidence_intervals_match_rliable_on_a_known_case() -> None:
    from rliable import library as rly
    from rliable import metrics

    from benchmarks.harness import stats

    rng = np.random.default_rng(7)
    scores = {"a": rng.uniform(size=(5, 8)), "b": rng.uniform(size=(3, 8)) * 0.5}
    points, intervals = stats.aggregate_intervals(scores, ("IQM", "Mean"), reps=300, seed=11)
    np.random.seed(11)
    r_points, r_intervals = rly.get_interval_estimates(
        scores, lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)]), reps=300)
    for k in scores:
        np.testing.assert_allclose(points[k], r_points[k])
        np.testing.assert_allclose(intervals[k], r_intervals[k])
    # a known case: constant scores have a degenerate interval at the constant
    p, ci = stats.aggregate_intervals({"c": np.full((4, 6), 0.5)}, ("IQM",), reps=100)
    assert p["c"][0] == 0.5 and ci["c"][:, 0].tolist() == [0.5, 0.5]
    # probability of improvement and performance profiles are rliable's too
    poi, poi_ci = stats.probability_of_improvement(scores, [("a", "b")], reps=200, seed=3)
    assert poi["a,b"] == pytest.approx(metrics.probability_of_improvement(scores["a"], scores["b"]))
    assert poi_ci["a,b"].shape == (2, 1)
    taus, profiles, _ = stats.performance_profiles(scores, reps=50)
    assert profiles["a"][0] == pytest.approx(np.mean(scores["a"] > taus[0]))
    state = np.random.get_state()[1].copy()
    stats.aggregate_intervals(scores, reps=20, seed=1)
    assert (np.random.get_state()[1] == state).all()  # the caller's global generator is left as it was


def test_score_table_arranges_runs_by_tasks() -> None:
    from benchmarks.harness.stats import score_table

    eps = [{"agent": "x", "agent_spec": "x", "seed": s, "env_id": "E", "task_id": t, "success": s == 0 or t == "1"}
           for s in (0, 1) for t in ("1", "2")]
    table = score_table(eps)
    assert table.tasks == ["E 1", "E 2"] and table.scores["x"].tolist() == [[1.0, 1.0], [1.0, 0.0]]
    eps.append({"agent": "y", "agent_spec": "y", "seed": 0, "env_id": "E", "task_id": "3", "success": True})
    collapsed = score_table(eps)
    assert collapsed.tasks == ["E"] and "one column per env" in collapsed.note


def test_minari_export_loads_back_and_matches_the_run(cli_run: Path, tmp_path: Path) -> None:
    import minari

    from benchmarks.harness.minari_export import dataset_id, export

    ids = export(cli_run, "pgtest", path=tmp_path / "minari")
    assert dataset_id("pgtest", ENV_ID, "mine") in ids and len(ids) == 3
    results = json.loads((cli_run / "results.json").read_text())
    for agent in ("mine", "baseline:heuristic"):
        ds = minari.load_dataset(dataset_id("pgtest", ENV_ID, agent))
        eps = [e for e in results["episodes"] if e["agent"] == agent]
        assert ds.total_episodes == len(eps)
        for ep, data in zip(eps, ds.iterate_episodes()):
            assert data.actions.tolist() == ep["actions"]
            assert float(np.sum(data.rewards)) == pytest.approx(ep["return"])
            assert bool(data.terminations[-1]) == ep["terminated"] and bool(data.truncations[-1]) == ep["truncated"]
            assert len(data.observations) == ep["length"] + 1
            assert data.infos["action_mask"].shape == (ep["length"] + 1, 5)
            assert set(data.infos["task_id"].tolist()) == {ep["task_id"]}
            assert int(data.infos["llm_calls"][-1]) == ep["llm_calls"]
    assert ds.recover_environment().spec.id == ENV_ID


def test_report_writes_one_page_with_plots(cli_run: Path, tmp_path: Path) -> None:
    from benchmarks.harness.report import write_report

    out = write_report([cli_run], tmp_path / "report.md", reps=100, text_metrics=("bleu", "rouge"))
    text = out.read_text()
    for section in ("## Leaderboard", "### rliable", "### Per-task difficulty", "### Failure classes",
                    "### Candidate diversity", "### pass@1 and pass within N edits", "## Trained agents",
                    "### Similarity of the final programs"):
        assert section in text
    pngs = sorted(p.name for p in tmp_path.glob("report_*.png"))
    assert len(pngs) == 6 and all(f"({p})" in text for p in pngs)


def test_bad_agent_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from promptgym.cli import main

    assert main(["bench", "--agent", "no_such_module_xyz:make", "--envs", ENV_ID]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("promptgym bench: --agent: cannot import 'no_such_module_xyz'") and "\n" not in err
    assert main(["bench", "--agent", "baseline:randon", "--envs", ENV_ID]) == 2
    assert "Did you mean 'random'" in capsys.readouterr().err
    assert main(["bench", "--agent", "baseline:random", "--suite", "mbpp-cor"]) == 2
    assert "Did you mean 'mbpp-core'" in capsys.readouterr().err


def test_published_suites_are_versioned_and_fixed() -> None:
    from benchmarks.harness.suites import get_suite, list_suites

    core = get_suite("mbpp-core")
    assert core.version == "1.0.0" and len(core.task_ids) == 50 and core.task_ids[:2] == ("MBPP/11", "MBPP/21")
    assert set(core.envs) == {"Executive-MBPP-v1", "PromptOpt-MBPP-v1"}
    assert all(kw["split"] == "test" for kw in core.envs.values())
    assert {s.name for s in list_suites()} >= {"mbpp-core", "mbpp-smoke"}
    assert get_suite("mbpp-smoke").task_ids == core.task_ids[:5]


def test_suite_kwargs_follow_the_suite_onto_other_envs() -> None:
    from benchmarks.harness.runner import _resolve_suite

    # the same family at another version keeps its env's kwargs; another family gets what every env shares
    suite, envs = _resolve_suite("mbpp-core", ["Executive-MBPP-v0", "Hierarchical-MBPP-v1"])
    assert envs == ["Executive-MBPP-v0", "Hierarchical-MBPP-v1"] and suite.name == "custom"
    assert suite.envs == {"Executive-MBPP-v0": {"split": "test"}, "Hierarchical-MBPP-v1": {"split": "test"}}
    assert len(suite.task_ids) == 50


def test_leaderboard_numbers_never_use_exponents() -> None:
    from benchmarks.harness.leaderboard import _fmt

    assert _fmt(1234.4, 1) == "1,234"
    assert _fmt(0.4567) == "0.457" and _fmt(float("nan")) == "n/a"
    assert "e+" not in _fmt(2.5e6)


def test_agents_that_ran_fewer_envs_are_compared_on_the_shared_ones() -> None:
    from benchmarks.harness.leaderboard import ALL_ENVS, leaderboard
    from benchmarks.harness.stats import score_table

    eps = [{"agent": a, "agent_spec": a, "seed": 0, "env_id": e, "task_id": t, "success": a == "both",
            "return": 0.0, "key": f"{a}{e}{t}"}
           for a, envs in (("both", ("E", "P")), ("only_e", ("E",))) for e in envs for t in ("1", "2")]
    table = score_table(eps)
    assert table.tasks == ["E 1", "E 2"] and set(table.scores) == {"both", "only_e"}
    assert "left out: P, which only_e did not run" in table.note
    rows = leaderboard([{"header": {"suite": {"name": "custom"}, "envs": {}}, "episodes": eps}], reps=50)
    assert {r.scope for r in rows} == {"E", "P"} and ALL_ENVS not in {r.scope for r in rows}
