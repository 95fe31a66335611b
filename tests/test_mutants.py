"""CI's share of the mutation harness (`python -m tools.mutants`): one bug of `tools/mutant_table.py` per
box, planted in a copy of lib, must make the unit test named beside it fail. A test that stops catching
its bug (the check was loosened, or the code it pins moved) turns this file red.

The whole harness also runs the pages and takes most of an hour; this subset runs one fast unit test
per box in a subprocess whose PYTHONPATH is the patched copy, in about two minutes on two cores. Each
named test also runs, without the bug, in the suite itself.
"""

import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from tools.mutant_table import BOXES, BUGS
from tools.mutants import check_import, child_env, plant

ROOT = pathlib.Path(__file__).resolve().parent.parent
BY_NAME = {bug.name: bug for bug in BUGS}

# box -> (the bug planted, the unit test that must fail under it)
SUBSET = {
    "Algorithm 20.1 (FQI, explicit maximization)": (
        "fqi_no_discount",
        "tests/test_fqi.py::test_explicit_fqi_is_value_iteration_on_the_riccati_map",
    ),
    "Algorithm 20.2 (FQI, amortized maximization)": (
        "amortized_window_off_by_one",
        "tests/test_fqi.py::test_window_mask_keeps_iterations_max0_n_minus_k_to_n",
    ),
    "LQR ground truth in FQI's features": (
        "greedy_gain_sign",
        "tests/test_fqi.py::test_explicit_fqi_converges_to_q_star_and_the_riccati_gain",
    ),
    "LQR Riccati solution": ("riccati_no_control_cost", "tests/test_lqr.py::test_riccati_matches_scipy_discrete_are"),
    "Algorithm 21.1 (NFQCA)": (
        "nfqca_policy_descends_q",
        "tests/test_deterministic.py::test_nfqca_recovers_the_riccati_gain_and_q_function",
    ),
    "Algorithm 21.2 (DDPG)": (
        "ddpg_bootstraps_past_terminal",
        "tests/test_deterministic.py::test_ddpg_critic_loss_is_the_mean_squared_bellman_error_of_the_box",
    ),
    "Algorithm 21.3 (TD3)": (
        "td3_one_critic",
        "tests/test_deterministic.py::test_td3_target_uses_min_of_twin_critics_and_clipped_noise",
    ),
    "Algorithm 22.1 (SAC)": (
        "sac_no_temperature_in_policy_loss",
        "tests/test_soft.py::test_value_target_and_policy_loss_have_their_exact_values",
    ),
    "Soft Bellman solution (finite MDP)": (
        "soft_max_without_temperature",
        "tests/test_soft.py::test_soft_maximum_lies_between_max_and_max_plus_beta_log_actions",
    ),
    "Finite-MDP exact answers": (
        "value_iteration_mean_not_max",
        "tests/test_mdp.py::test_greedy_policy_of_value_iteration_is_optimal",
    ),
    "Derivative estimators and their exact moments": (
        "score_function_without_direct_term",
        "tests/test_estimators.py::test_estimators_on_fixed_noise_equal_book_formulas",
    ),
    "Reparameterized samplers": (
        "gumbel_softmax_no_temperature",
        "tests/test_samplers.py::test_gumbel_softmax_tends_to_one_hot_as_temperature_falls",
    ),
    "Policy gradient theorem (finite MDP)": (
        "theorem_no_discount_on_next_value",
        "tests/test_policy_gradient.py::test_theorem_gradient_equals_autodiff_through_the_linear_solve_float64",
    ),
    "Algorithm 24.1 (policy gradient with a baseline)": (
        "baseline_added",
        "tests/test_policy_gradient.py::test_reward_to_go_then_baseline_each_reduce_the_variance",
    ),
    "Algorithm 24.2 (value control variate, mini-batches)": (
        "minibatch_policy_loss_sign",
        "tests/test_policy_gradient.py::test_gae_actor_critic_improves_the_cartpole_return_over_a_few_iterations",
    ),
    "Algorithm 24.3 (GAE actor-critic)": (
        "gae_no_lambda",
        "tests/test_onpolicy.py::test_gae_with_lambda_zero_is_the_td_error",
    ),
    "Algorithm 24.4 (actor-critic with TD(0))": (
        "td0_bootstraps_past_terminal",
        "tests/test_policy_gradient.py::test_box_24_4_td0_step_moves_the_critic_by_delta_grad_v_with_no_bootstrap_past_a_terminal",
    ),
    "Algorithm 25.1 (SVG(inf))": (
        "svg_inf_no_discount",
        "tests/test_svg.py::test_svg_infinity_objective_is_unbiased_for_the_truncated_return",
    ),
    "Model-based gradient estimators (DPMB, SVG(n))": (
        "dpmb_sf_score_sign",
        "tests/test_svg.py::test_deterministic_model_based_estimators_are_unbiased_for_the_one_step_objective",
    ),
    "LQR ground truth of a linear Gaussian policy": (
        "policy_cost_no_control_cost",
        "tests/test_svg.py::test_n_step_objective_with_the_policys_own_critic_equals_its_infinite_horizon_value",
    ),
    "KL divergence and Fisher information": (
        "conjugate_gradient_wrong_direction_update",
        "tests/test_trust_region.py::test_conjugate_gradient_solves_a_known_spd_system",
    ),
    "Natural policy gradient and TRPO": (
        "trpo_no_line_search",
        "tests/test_trust_region.py::test_trpo_accepted_step_satisfies_the_kl_bound",
    ),
    "PPO (clipped surrogate)": (
        "ppo_max_instead_of_min",
        "tests/test_trust_region.py::test_ppo_loss_has_no_gradient_when_every_ratio_is_clipped_in_the_advantage_direction",
    ),
}


# Boxes none of whose bugs a unit test catches yet (checking/report.md lists them), box -> why: each needs a
# test first. Empty: every box has one.
NO_TEST_CATCHES_YET = {}


def run_tests(copy, tests):
    """pytest on `tests` in `copy` with PYTHONPATH = copy: (exit code, output)."""
    command = [sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", "-rf", *tests]
    done = subprocess.run(command, cwd=copy, env=child_env(copy), capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """lib, tests and pyproject.toml of this checkout, copied: the unit tests' part of the repository."""
    copy = tmp_path_factory.mktemp("pristine")
    for folder in ("lib", "tests"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy)
    return copy


def test_the_subset_plants_one_bug_in_every_box_and_names_one_of_its_tests():
    assert set(SUBSET) | set(NO_TEST_CATCHES_YET) == set(BOXES) and not set(SUBSET) & set(NO_TEST_CATCHES_YET)
    for box, (name, test) in SUBSET.items():
        assert BY_NAME[name].box == box and not BY_NAME[name].equivalent
        assert test.split("[")[0] in BOXES[box].tests or test.split("::")[0] in BOXES[box].tests


def test_lib_imports_from_the_copy_not_from_the_working_tree(pristine):
    check_import(pristine)  # raises naming where lib came from otherwise


@pytest.mark.parametrize("box", sorted(SUBSET))
def test_the_boxs_unit_test_fails_under_its_bug(box, pristine, tmp_path):
    name, test = SUBSET[box]
    copy = plant(BY_NAME[name], pristine, tmp_path / name)
    code, output = run_tests(copy, [test])
    assert code == 1 and " failed" in output, (
        f"{test} does not catch {name} ({BY_NAME[name].description}):\n" + (output[-2000:])
    )
    # The test fails on what it checks, not because the copy lacks something (the same test passes in the suite).
    assert not re.search(r"(ModuleNotFound|FileNotFound|Import)Error", output), output[-2000:]


def test_every_page_a_box_names_exists_and_every_equivalent_bug_says_why_in_a_sentence():
    for box in BOXES.values():
        assert len(set(box.pages)) == len(box.pages)
        for chapter in box.pages:
            assert (ROOT / "chapters" / f"{chapter}.ipynb").is_file(), chapter
    for bug in BUGS:
        assert bug.equivalent == "" or len(bug.equivalent.split()) >= 8, bug.name
