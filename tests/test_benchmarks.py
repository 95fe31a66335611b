"""The benchmark report's rendering, merging and pairing (the measurements themselves are not tests)."""

import json
import sys

import pytest

from benchmarks.__main__ import _merged, main, markdown, measure_in_fresh_process, median_pair
from benchmarks.peers import PAIRS, PEER_RUNS
from benchmarks.runs import all_runs

PPO_ROW = {
    "name": "ch26_ppo_cartpole_500k_x1",
    "compile_s": 7.5,
    "run_s": 3.25,
    "peak_memory_mb": 600,
    "device": "cpu",
    "notes": "PPO",
    "measured_at": "2026-12-02 01:00 UTC",
    "others_cpu_share": 0.03,
    "results": {"env_steps": 500_000, "seeds": 1, "last10_return_mean": 498.0, "greedy_return_per_seed": [500.0]},
}
PEER_ROW = {
    "pair": "ppo_cartpole_rejax",
    "ours": "ch26_ppo_cartpole_purejaxrl_config_500k",
    "peer": "rejax_ppo_cartpole_500k",
    "configuration": "PPO, 64x64 tanh",
    "repeats": 3,
    "ours_compile_s": 7.0,
    "ours_run_s": 3.0,
    "peer_compile_s": 10.5,
    "peer_run_s": 7.5,
    "ours_final_return": [500.0],
    "peer_final_return": [500.0],
    "measured_at": "today",
    "others_cpu_share": 0.4,
}


def _report(**rows):
    return {"machine": "test", "conditions": "idle", "runs": [], "chapters": [], **rows}


def _line(text, start):
    return next(line for line in text.splitlines() if line.startswith(start))


def test_summary_row_shows_steps_seeds_solved_return_times_and_when_without_quoted_peer_figures():
    text = markdown(_report(runs=[PPO_ROW]))
    summary = _line(text, "| ch26_ppo_cartpole_500k_x1 | 500,000")
    assert summary == (
        "| ch26_ppo_cartpole_500k_x1 | 500,000 | 1/1 | greedy 500 | 498.0 | 7.5 | 3.25 | "
        "2026-12-02 01:00 UTC, others 3% of the CPUs |"
    )
    assert "published" not in text and "PureJaxRL" not in text


def test_a_row_measured_beside_other_jobs_is_marked_shared():
    text = markdown(_report(runs=[{**PPO_ROW, "others_cpu_share": 0.35}]))
    assert _line(text, "| ch26_ppo_cartpole_500k_x1 | 500,000").endswith("others 35% of the CPUs (shared) |")


def test_chapters_and_sliders_are_checked_against_their_targets():
    chapters = [
        {"chapter": "fast", "wall_s": 40.0, "second_wall_s": 30.5, "kernel_peak_memory_mb": 1},
        {"chapter": "slow", "wall_s": 40.1, "second_wall_s": 31.0, "kernel_peak_memory_mb": 1},
    ]
    sliders = [
        {"chapter": "22", "slider": "beta", "median_s": 0.3, "worst_s": 0.6, "measured_at": "t"},
        {"chapter": "24", "slider": "lambda", "median_s": 0.2, "worst_s": 0.61, "measured_at": "t"},
    ]
    text = markdown(_report(chapters=chapters, sliders=sliders))
    assert _line(text, "| fast |").startswith("| fast | 40.0 | yes | 30.5 |")
    assert _line(text, "| slow |").startswith("| slow | 40.1 | no | 31.0 |")
    assert _line(text, "| 22 | beta |").startswith("| 22 | beta | 0.3 | 0.6 | yes |")
    assert _line(text, "| 24 | lambda |").startswith("| 24 | lambda | 0.2 | 0.61 | no |")
    assert "Slider redraw" not in markdown(_report(chapters=chapters))


def test_merge_replaces_rows_of_the_same_name_and_keeps_the_others():
    old = [{"name": "a", "v": 1}, {"name": "b", "v": 2}]
    assert _merged(old, [{"name": "b", "v": 3}, {"name": "c", "v": 4}], "name") == [
        {"name": "a", "v": 1},
        {"name": "b", "v": 3},
        {"name": "c", "v": 4},
    ]


def test_render_rewrites_the_markdown_from_the_json_keeping_its_machine(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps({**_report(runs=[PPO_ROW]), "machine": "the measuring one"}))
    main(["--render", "--output", str(tmp_path)])
    text = (tmp_path / "report.md").read_text()
    assert "ch26_ppo_cartpole_500k_x1" in text and "Machine: the measuring one" in text


def test_peer_pairs_alternate_and_keep_the_medians_and_both_final_returns():
    calls = []

    def timed(side, times, result):
        def measure(name):
            calls.append((side, name))
            compile_s, run_s = times.pop(0)
            return {
                "compile_s": compile_s,
                "run_s": run_s,
                "measured_at": "now",
                "others_cpu_share": run_s / 100,
                **result,
            }

        return measure

    pair = PAIRS["td3_pendulum"]
    row = median_pair(
        "td3_pendulum",
        3,
        timed("ours", [(5, 1), (4, 9), (6, 2)], {"results": {"final_eval_return": -150.0}}),
        timed("peer", [(9, 3), (7, 4), (8, 5)], {"final_return": -160.0}),
    )
    assert calls == [("ours", pair.ours), ("peer", pair.peer)] * 3
    assert (row["ours_compile_s"], row["ours_run_s"], row["peer_compile_s"], row["peer_run_s"]) == (5, 2, 8, 4)
    assert row["ours_final_return"] == [-150.0] * 3 and row["peer_final_return"] == [-160.0] * 3
    assert row["others_cpu_share"] == 0.09  # the most shared of the six measurements


def test_peer_table_shows_the_ratio_and_peers_survive_a_new_benchmark_while_unmatched_ones_are_dropped(tmp_path):
    text = markdown(_report(peers=[PEER_ROW]))
    assert "| ppo_cartpole_rejax | PPO, 64x64 tanh | 7.0 + 3.0 | 10.5 + 7.5 | 0.56 | [500.0] | [500.0] |" in text
    external = markdown(_report(peers=[{**PEER_ROW, "pair": "ppo_cartpole_purejaxrl"}]))
    assert "| ppo_cartpole_purejaxrl | PPO, 64x64 tanh; the peer's code: PureJaxRL purejaxrl/ppo.py" in external
    assert "kept outside this repository |" in external
    unmatched = {"ours": "ch21_td3_pendulum_20k_64x64", "peer": "rejax_td3_pendulum_20k_64x64"}
    (tmp_path / "report.json").write_text(json.dumps(_report(peers=[PEER_ROW, unmatched])))
    main(["--only", "no_such_run", "--runs-only", "--output", str(tmp_path)])
    assert json.loads((tmp_path / "report.json").read_text())["peers"] == [PEER_ROW]


def test_peers_without_the_peers_environment_say_how_to_make_it(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--peers", "--python", str(tmp_path / "missing" / "python"), "--output", str(tmp_path)])
    assert "create the peers' environment first" in capsys.readouterr().err


def test_a_pair_whose_peer_is_not_installable_asks_for_its_script(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--peers", "--only", "ppo_cartpole_purejaxrl", "--python", sys.executable, "--output", str(tmp_path)])
    assert "--external PAIR SCRIPT" in capsys.readouterr().err


def test_an_unknown_pair_is_refused_naming_the_pairs(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--peers", "--only", "no_such_pair", "--python", sys.executable, "--output", str(tmp_path)])
    assert "unknown pairs ['no_such_pair']; the pairs are ['ppo_cartpole_purejaxrl'" in capsys.readouterr().err


def test_every_pair_names_a_run_of_ours_and_a_peer_run():
    runs = all_runs()
    for name, pair in PAIRS.items():
        assert pair.ours in runs, name
        assert pair.external is not None or pair.peer in PEER_RUNS, name


def test_our_side_of_each_pair_evaluates_once_at_the_end_with_the_peers_budget():
    for name in ("td3_pendulum_20k_evaluated_at_end", "sac_tanh_pendulum_10k_evaluated_at_end"):
        _, _, _, notes = all_runs()[name]()
        assert "one greedy evaluation of 10 episodes, at the end" in notes and "batch 256" in notes
    for algorithm, config in PEER_RUNS.values():
        assert config["eval_freq"] == config["total_timesteps"] and config["skip_initial_evaluation"], algorithm


def test_a_fresh_process_measurement_records_when_and_how_shared():
    row = measure_in_fresh_process([sys.executable, "-c", "print('noise'); print('{\"x\": 1}')"])
    assert row["x"] == 1 and row["measured_at"].endswith("UTC") and 0.0 <= row["others_cpu_share"] <= 1.0


def test_a_failed_measurement_says_which_and_why():
    with pytest.raises(RuntimeError, match="failed with status 3:\nno such run"):
        measure_in_fresh_process([sys.executable, "-c", "import sys; sys.stderr.write('no such run'); sys.exit(3)"])


def test_seeds_table_gives_our_total_over_the_peers_and_our_run_over_one_seeds():
    row = lambda side, seeds, compile_s, run_s: {
        "side": side,
        "algorithm": "td3",
        "seeds": seeds,
        "devices": 2,  # noqa: E731
        "compile_s": compile_s,
        "run_s": run_s,
        "final_return_mean": -150.0,
        "measured_at": "t",
        "others_cpu_share": 0.0,
    }
    seeds = [
        row("ours", 1, 4.0, 10.0),
        row("peer", 1, 4.0, 14.0),
        row("ours", 8, 6.0, 40.0),
        row("peer", 8, 9.0, 106.0),
    ]
    text = markdown(_report(seeds=seeds))
    assert _line(text, "| TD3 | 1 |").startswith("| TD3 | 1 | 2, 4.0 + 10.0 | 4.0 + 14.0 | 0.78 | 1.0 |")
    assert _line(text, "| TD3 | 8 |").startswith("| TD3 | 8 | 2, 6.0 + 40.0 | 9.0 + 106.0 | 0.40 | 4.0 |")
    assert "Seeds at scale" not in markdown(_report())


def test_runs_are_timed_without_the_compilation_cache_and_chapters_with_it(monkeypatch):
    """A run's compile time must be a compilation; a chapter's second Run all must find the first one's cache."""
    import subprocess

    import benchmarks.__main__ as bench

    seen = {}

    def fake_run(command, env, **kwargs):
        seen[command[-2]] = env.get("JAX_ENABLE_COMPILATION_CACHE")
        return subprocess.CompletedProcess(command, 0, stdout='{"x": 1}\n', stderr="")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    bench.measure("run", "some_run")
    bench.measure("chapter", "some_chapter")
    assert seen == {"run": "false", "chapter": None}
