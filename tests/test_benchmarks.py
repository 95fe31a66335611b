"""The benchmark report's rendering and merging (the measurements themselves are not tests)."""
import json

from benchmarks.__main__ import _merged, main, markdown

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
