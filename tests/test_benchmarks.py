"""The benchmark report's rendering and merging (the measurements themselves are not tests)."""
import json

import pytest

from benchmarks.__main__ import _merged, main, markdown
from benchmarks.peer_runs import main as peer_main
from benchmarks.peer_runs import median_pair

PPO_ROW = {"name": "ch26_ppo_cartpole_500k_x1", "compile_s": 7.5, "run_s": 3.25, "peak_memory_mb": 600,
           "device": "cpu", "notes": "PPO", "results": {"env_steps": 500_000, "seeds": 1, "last10_return_mean": 498.0,
                                                       "greedy_return_per_seed": [500.0]}}


def test_summary_row_shows_steps_seeds_solved_return_times_and_the_peer_figure():
    text = markdown({"machine": "test", "conditions": "idle", "runs": [PPO_ROW], "chapters": []})
    summary = next(line for line in text.splitlines() if line.startswith("| ch26_ppo_cartpole_500k_x1 | 500,000"))
    assert "| 1/1 | greedy 500 | 498.0 | 7.5 | 3.25 |" in summary and "PureJaxRL" in summary


def test_merge_replaces_rows_of_the_same_name_and_keeps_the_others():
    old = [{"name": "a", "v": 1}, {"name": "b", "v": 2}]
    assert _merged(old, [{"name": "b", "v": 3}, {"name": "c", "v": 4}], "name") == [
        {"name": "a", "v": 1}, {"name": "b", "v": 3}, {"name": "c", "v": 4}]


def test_render_rewrites_the_markdown_from_the_json(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps({"machine": "m", "runs": [PPO_ROW], "chapters": []}))
    main(["--render", "--output", str(tmp_path)])
    assert "ch26_ppo_cartpole_500k_x1" in (tmp_path / "report.md").read_text()


def test_peer_pairs_alternate_and_keep_the_medians():
    calls = []

    def timed(side, times):
        def measure(name):
            calls.append(side)
            compile_s, run_s = times.pop(0)
            return {"compile_s": compile_s, "run_s": run_s, "final_return": -150.0}
        return measure

    row = median_pair("ours", "peer", 3, timed("ours", [(5, 1), (4, 9), (6, 2)]), timed("peer", [(9, 3), (7, 4), (8, 5)]))
    assert calls == ["ours", "peer"] * 3
    assert (row["ours_compile_s"], row["ours_run_s"], row["peer_compile_s"], row["peer_run_s"]) == (5, 2, 8, 4)


def test_peers_measured_here_appear_beside_our_run_and_survive_a_new_benchmark(tmp_path):
    peer = {"ours": PPO_ROW["name"], "peer": "rejax_ppo", "peer_description": "rejax PPO", "repeats": 3,
            "ours_compile_s": 7.0, "ours_run_s": 3.0, "peer_compile_s": 10.5, "peer_run_s": 7.5,
            "peer_final_return": [500.0], "measured_at": "today"}
    text = markdown({"machine": "test", "runs": [PPO_ROW], "chapters": [], "peers": [peer]})
    summary = next(line for line in text.splitlines() if line.startswith("| ch26_ppo_cartpole_500k_x1 | 500,000"))
    assert summary.endswith("| rejax_ppo: 10.5 + 7.5 |")
    assert "## Peers measured on this machine" in text and "| rejax PPO | 10.5 | 7.5 | 0.56 |" in text
    (tmp_path / "report.json").write_text(json.dumps({"machine": "m", "runs": [], "chapters": [], "peers": [peer]}))
    main(["--only", "no_such_run", "--runs-only", "--output", str(tmp_path)])
    assert json.loads((tmp_path / "report.json").read_text())["peers"] == [peer]


def test_peer_runs_without_the_peers_environment_say_how_to_make_it(tmp_path, capsys):
    with pytest.raises(SystemExit):
        peer_main(["--python", str(tmp_path / "missing" / "python"), "--output", str(tmp_path)])
    assert "create the peers' environment first" in capsys.readouterr().err
