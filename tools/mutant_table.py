"""The bugs `python -m tools.mutants` plants in `lib`, one at a time: a list of mistakes to avoid.

Each entry is a mistake a student writing the box, or a maintainer refactoring it, could plausibly
make: a sign flipped, a term or a discount dropped, a window off by one, a target computed from
the online network, one critic where the box takes the minimum of two. `old` is the exact text of
`lib` that the mistake changes and `new` what it becomes; `old` must occur exactly once in `file`,
so a refactor that moves the code makes the harness fail loudly instead of planting nothing.

BOXES says, for every algorithm box and every exact ground truth the pages use, which chapter
teaches it (whose nbval is the page's check), which other chapters' pages call its functions too
(`also_on`: the bug is caught by the page if any of these fails), and which unit tests cover it (run
with -x, in this order: the fastest and most specific first).

A bug whose change computes the same thing as the code (an equivalent mutant) keeps its entry, with
`equivalent` saying why in a sentence: the harness lists it and does not plant or count it.
"""

from typing import NamedTuple


class Box(NamedTuple):
    chapter: str  # the chapter whose page teaches the box, as chapters/<chapter>.ipynb (its kill rate counts it)
    tests: tuple  # pytest node ids of the unit tests that cover it
    also_on: tuple = ()  # other chapters whose pages call the box's functions (a ground truth used elsewhere)

    @property
    def pages(self):
        """Every chapter whose page checks the box: a bug is caught by the page if any of them fails."""
        return (self.chapter, *self.also_on)


class Bug(NamedTuple):
    box: str  # a key of BOXES
    name: str  # short, unique, a valid file name
    description: str  # the mistake, in one line
    file: str  # the file of lib it changes
    old: str  # exact text, occurring once in `file`
    new: str  # what the mistake makes of it
    equivalent: str = ""  # why the change computes the same thing, if it does: then it is listed, not planted


def _tests(file, *names):
    return tuple(f"tests/{file}::{name}" for name in names)


CH20, CH21, CH22 = "20_embedded_optimization", "21_deterministic_policies", "22_soft_actor_critic"
CH23, CH24, CH25 = "23_derivative_estimation", "24_score_function_gradients", "25_model_based_gradients"
CH26 = "26_trust_regions"

BOXES = {
    "Algorithm 20.1 (FQI, explicit maximization)": Box(
        CH20,
        _tests(
            "test_fqi.py",
            "test_maximize_finds_the_argmax_of_a_concave_quadratic",
            "test_explicit_fqi_is_value_iteration_on_the_riccati_map",
            "test_explicit_fqi_converges_to_q_star_and_the_riccati_gain",
            "test_stops_when_delta_falls_below_tolerance_or_after_n_iterations",
        ),
    ),
    "Algorithm 20.2 (FQI, amortized maximization)": Box(
        CH20,
        _tests(
            "test_fqi.py",
            "test_delta_d_is_the_mean_squared_gap_between_the_windows_maximizers_and_the_new_policy",
            "test_window_mask_keeps_iterations_max0_n_minus_k_to_n",
            "test_amortized_with_b_opt_equal_to_b_matches_explicit",
            "test_policy_is_fit_to_the_maximizers_of_iterations_n_minus_k_to_n",
            "test_amortized_with_two_solved_points_reaches_the_riccati_gain",
            "test_empty_b_opt_keeps_w0_and_evaluates_the_zero_force_policy",
            "test_traced_num_opt_counts_calls_and_equals_the_static_subset",
        ),
    ),
    "LQR ground truth in FQI's features": Box(
        CH20,
        _tests(
            "test_fqi.py",
            "test_q_errors_is_the_root_mean_square_gap_to_the_reference_at_each_iteration",
            "test_quadratic_features_represent_q_star_exactly",
            "test_explicit_fqi_converges_to_q_star_and_the_riccati_gain",
            "test_amortized_with_two_solved_points_reaches_the_riccati_gain",
        ),
    ),
    "LQR Riccati solution": Box(CH21, ("tests/test_lqr.py",), also_on=(CH20, CH25)),
    "Algorithm 21.1 (NFQCA)": Box(
        CH21,
        _tests(
            "test_deterministic.py",
            "test_nfqca_policy_step_reaches_the_greedy_gain_of_the_critic_just_fitted",
            "test_nfqca_recovers_the_riccati_gain_and_q_function",
        ),
    ),
    "Algorithm 21.2 (DDPG)": Box(
        CH21,
        _tests(
            "test_deterministic.py",
            "test_ddpg_target_reads_the_target_networks_and_the_policy_step_the_critic_just_updated",
            "test_ou_step_is_one_euler_maruyama_step",
            "test_ddpg_critic_loss_is_the_mean_squared_bellman_error_of_the_box",
            "test_ddpg_with_tau_one_copies_targets_every_K_updates",
            "test_ddpg_act_adds_scaled_ou_noise_and_advances_it",
            "test_ou_stationary_variance_within_three_standard_errors",
        )
        + _tests("test_replay_and_nets.py", "test_soft_update_is_polyak_average_and_rejects_bad_tau"),
    ),
    "Algorithm 21.3 (TD3)": Box(
        CH21,
        _tests(
            "test_deterministic.py",
            "test_td3_target_action_comes_from_the_target_policy",
            "test_td3_target_uses_min_of_twin_critics_and_clipped_noise",
            "test_td3_target_without_noise_is_the_clipped_double_q_target",
            "test_td3_critic_loss_and_policy_objective_have_their_exact_values",
            "test_td3_updates_policy_and_targets_only_every_d_steps_at_rate_tau",
            "test_td3_policy_step_follows_q_a_just_fitted",
        ),
    ),
    "Algorithm 22.1 (SAC)": Box(
        CH22,
        _tests(
            "test_soft.py",
            "test_box_q_targets_bootstrap_from_the_target_value_network",
            "test_value_target_and_policy_loss_have_their_exact_values",
            "test_with_zero_discount_the_critics_regress_on_the_reward_alone",
            "test_box_target_value_network_moves_by_tau",
            "test_temperature_rises_below_the_target_entropy_falls_above_and_can_be_fixed",
            "test_sac_policy_uses_the_tanh_gaussian_density_on_the_action_bounds",
        ),
    ),
    "Soft Bellman solution (finite MDP)": Box(
        CH22,
        _tests(
            "test_soft.py",
            "test_soft_maximum_lies_between_max_and_max_plus_beta_log_actions",
            "test_soft_bellman_operator_is_a_gamma_contraction",
            "test_soft_value_iteration_converges_to_the_unique_fixed_point",
            "test_soft_value_is_the_entropy_regularized_value_of_its_boltzmann_policy",
            "test_soft_value_exceeds_the_hard_optimum_by_at_most_the_bound",
            "test_boltzmann_policy_and_soft_maximum_at_a_near_zero_temperature_are_the_hard_ones",
        ),
    ),
    "Finite-MDP exact answers": Box(CH22, ("tests/test_mdp.py",), also_on=(CH24,)),
    "Derivative estimators and their exact moments": Box(
        CH23,
        _tests(
            "test_estimators.py",
            "test_true_gradient_is_derivative_of_objective",
            "test_estimators_on_fixed_noise_equal_book_formulas",
            "test_exact_moments_equal_gauss_hermite_moments",
            "test_exact_moments_at_theta_one_are_the_book_values",
            "test_masked_estimate_equals_average_of_first_n_samples",
        ),
    ),
    "Reparameterized samplers": Box(CH23, ("tests/test_samplers.py",)),
    "Policy gradient theorem (finite MDP)": Box(
        CH24,
        _tests(
            "test_policy_gradient.py",
            "test_theorem_gradient_equals_autodiff_through_the_linear_solve_float64",
            "test_second_form_with_q_or_with_advantages_equals_the_gradient_float64",
            "test_occupancy_is_the_unnormalized_visitation_summing_to_one_over_one_minus_gamma",
            "test_expected_gae_with_the_exact_critic_is_the_exact_advantage_for_every_lambda",
            "test_expected_gae_with_a_wrong_critic_is_q_minus_critic_at_one_and_expected_td_error_at_zero",
            "test_visitation_sampler_passes_a_chi_square_test_against_the_exact_distribution",
        ),
    ),
    "Algorithm 24.1 (policy gradient with a baseline)": Box(
        CH24,
        _tests(
            "test_policy_gradient.py",
            "test_box_24_1_fits_the_baseline_to_the_returns_then_weighs_the_score_by_return_minus_the_new_baseline",
            "test_whole_return_reward_to_go_and_baseline_estimators_are_unbiased_within_their_standard_error",
            "test_reward_to_go_then_baseline_each_reduce_the_variance",
            "test_annealed_step_size_of_iteration_i_is_the_closed_form_rate_times_one_minus_i_over_n",
        ),
    ),
    "Algorithm 24.2 (value control variate, mini-batches)": Box(
        CH24,
        _tests(
            "test_policy_gradient.py",
            "test_box_24_2_fits_v_to_the_returns_then_steps_on_normalized_returns_minus_the_fitted_v",
            "test_annealed_step_size_of_iteration_i_is_the_closed_form_rate_times_one_minus_i_over_n",
            "test_gae_actor_critic_improves_the_cartpole_return_over_a_few_iterations",
        ),
    ),
    "Algorithm 24.3 (GAE actor-critic)": Box(
        CH24,
        _tests(
            "test_onpolicy.py",
            "test_gae_with_lambda_zero_is_the_td_error",
            "test_gae_with_lambda_one_is_the_return_minus_the_baseline",
            "test_gae_equals_the_lambda_weighted_sum_of_td_errors",
        )
        + _tests(
            "test_policy_gradient.py",
            "test_box_24_3_fits_v_to_the_lambda_return_and_steps_on_the_normalized_gae_advantages",
            "test_gae_is_unbiased_for_every_lambda_with_the_exact_critic_and_at_lambda_one_with_a_wrong_one",
            "test_gae_actor_critic_improves_the_cartpole_return_over_a_few_iterations",
        ),
    ),
    "Algorithm 24.4 (actor-critic with TD(0))": Box(
        CH24,
        _tests(
            "test_policy_gradient.py",
            "test_box_24_4_td0_step_moves_the_critic_by_delta_grad_v_with_no_bootstrap_past_a_terminal",
            "test_a_diverging_run_raises_naming_the_estimator_and_the_iteration",
        ),
    ),
    "Algorithm 25.1 (SVG(inf))": Box(
        CH25,
        _tests(
            "test_svg.py",
            "test_svg_infinity_objective_discounts_the_reward_of_step_t_by_gamma_to_the_t",
            "test_svg_infinity_objective_is_unbiased_for_the_truncated_return",
            "test_svg_infinity_on_the_lqr_raises_the_exact_return",
            "test_svg_infinity_records_the_iteration_where_it_diverged",
        ),
    ),
    "Model-based gradient estimators (DPMB, SVG(n))": Box(
        CH25,
        _tests(
            "test_svg.py",
            "test_dpmb_score_function_gradient_at_the_origin_is_the_critics_own_gradient_by_hand",
            "test_deterministic_model_based_estimators_are_unbiased_for_the_one_step_objective",
            "test_score_function_estimator_has_larger_variance_than_reparameterized",
            "test_svg_n_estimator_is_unbiased_for_its_n_step_objective_at_every_depth",
            "test_bpo_gradient_equals_grad_of_closed_form_n_step_cost",
            "test_svg0_is_svg_at_depth_zero",
        ),
    ),
    "LQR ground truth of a linear Gaussian policy": Box(
        CH25,
        _tests(
            "test_svg.py",
            "test_n_step_objective_with_the_policys_own_critic_equals_its_infinite_horizon_value",
            "test_optimal_gain_is_a_stationary_point_of_the_exact_return",
            "test_bpo_gradient_equals_grad_of_closed_form_n_step_cost",
            "test_svg_n_estimator_is_unbiased_for_its_n_step_objective_at_every_depth",
        )
        + _tests("test_lqr.py", "test_an_unstable_gain_has_infinite_cost_not_a_finite_lyapunov_solution"),
    ),
    "KL divergence and Fisher information": Box(
        CH26,
        _tests(
            "test_trust_region.py",
            "test_gaussian_kl_matches_scipy_integral",
            "test_categorical_kl_matches_scipy_entropy",
            "test_fisher_vector_product_by_autodiff_equals_the_analytic_fisher",
            "test_conjugate_gradient_solves_a_known_spd_system",
            "test_fisher_form_error_shrinks_like_the_cube_of_the_step",
        )
        + _tests(
            "test_distributions.py",
            "test_gaussian_kl_matches_the_closed_form_and_a_quadrature",
            "test_categorical_entropy_kl_and_sample_against_scipy",
        ),
    ),
    "Natural policy gradient and TRPO": Box(
        CH26,
        _tests(
            "test_trust_region.py",
            "test_trpo_line_search_skips_steps_inside_the_bound_whose_surrogate_falls",
            "test_npg_step_fills_the_fisher_form_of_the_kl_bound_to_second_order",
            "test_trpo_accepted_step_satisfies_the_kl_bound",
        ),
    ),
    "PPO (clipped surrogate)": Box(
        CH26,
        _tests(
            "test_trust_region.py",
            "test_ppo_loss_with_an_entropy_coefficient_is_the_loss_without_it_minus_c_times_the_mean_entropy",
            "test_ppo_loss_has_no_gradient_when_every_ratio_is_clipped_in_the_advantage_direction",
            "test_ppo_learns_cartpole_in_a_short_run",
        ),
    ),
}

FQI_EXPLICIT, FQI_AMORTIZED, FQI_TRUTH = (
    "lib/algorithms/fqi/explicit.py",
    "lib/algorithms/fqi/amortized.py",
    "lib/algorithms/fqi/quadratic.py",
)
NFQCA, DDPG_TD3, NOISE = (
    "lib/algorithms/deterministic/nfqca.py",
    "lib/algorithms/deterministic/ddpg_td3.py",
    "lib/algorithms/deterministic/noise.py",
)
SAC_BOX, SAC_SHARED, SMOOTH = (
    "lib/algorithms/soft/sac_box.py",
    "lib/algorithms/soft/sac_shared.py",
    "lib/algorithms/soft/smooth_bellman.py",
)
PG_EXACT, PG_EST, PG_BOXES, ONPOLICY = (
    "lib/algorithms/policy_gradient/mdp_exact.py",
    "lib/algorithms/policy_gradient/mdp_estimators.py",
    "lib/algorithms/policy_gradient/boxes.py",
    "lib/loops/onpolicy.py",
)
SVG_LOOPS, SVG_EST = "lib/algorithms/svg/loops.py", "lib/algorithms/svg/estimators.py"
TR_OPT, TR_FISHER = "lib/algorithms/trust_region/optimizers.py", "lib/algorithms/trust_region/fisher.py"

BUGS = [
    # ------------------------------------------------------------------ chapter 20
    Bug(
        "Algorithm 20.1 (FQI, explicit maximization)",
        "fqi_no_discount",
        "the target y = r + max_a' q(s', a') forgets the discount gamma",
        FQI_EXPLICIT,
        "targets = base_points.reward + config.gamma * not_done * best_next",
        "targets = base_points.reward + not_done * best_next",
    ),
    Bug(
        "Algorithm 20.1 (FQI, explicit maximization)",
        "fqi_minimizes",
        "the target evaluates q at the minimizer over actions instead of the maximizer",
        FQI_EXPLICIT,
        "maximize(lambda a: q_value(features, theta, psi, a), start, config.maximize)",
        "maximize(lambda a: -q_value(features, theta, psi, a), start, config.maximize)",
    ),
    Bug(
        "Algorithm 20.1 (FQI, explicit maximization)",
        "fqi_delta_without_old_q",
        "the stopping test measures the size of q_{n+1} instead of its change from q_n",
        FQI_EXPLICIT,
        "delta = jnp.mean((design @ new_theta - design @ theta) ** 2)",
        "delta = jnp.mean((design @ new_theta) ** 2)",
    ),
    Bug(
        "Algorithm 20.1 (FQI, explicit maximization)",
        "fqi_history_off_by_one",
        "theta_{n+1} is stored in the history's row n (off by one), overwriting theta_n",
        FQI_EXPLICIT,
        "n + 1, new_theta, carry.thetas.at[n + 1].set(new_theta)",
        "n + 1, new_theta, carry.thetas.at[n].set(new_theta)",
    ),
    Bug(
        "Algorithm 20.2 (FQI, amortized maximization)",
        "amortized_no_discount",
        "the amortized loop's target forgets the discount gamma",
        FQI_AMORTIZED,
        "targets = base_points.reward + config.gamma * not_done * best_next",
        "targets = base_points.reward + not_done * best_next",
    ),
    Bug(
        "Algorithm 20.2 (FQI, amortized maximization)",
        "amortized_window_off_by_one",
        "the sliding window keeps iterations n-K+1 .. n (K of them) instead of n-K .. n (K + 1)",
        FQI_AMORTIZED,
        "return stamps >= n - window",
        "return stamps > n - window",
    ),
    Bug(
        "Algorithm 20.2 (FQI, amortized maximization)",
        "amortized_policy_for_solved_points",
        "B_opt swapped: the policy answers for the solved points and the solver's actions are used elsewhere",
        FQI_AMORTIZED,
        "chosen = jnp.where(use_solver, jnp.pad(solved, ((0, size - max_opt), (0, 0))), amortized)",
        "chosen = jnp.where(use_solver, amortized, jnp.pad(solved, ((0, size - max_opt), (0, 0))))",
    ),
    Bug(
        "Algorithm 20.2 (FQI, amortized maximization)",
        "amortized_delta_d_old_policy",
        "delta_d compares the maximizers with the old policy d(s'; w_n) instead of the new one",
        FQI_AMORTIZED,
        "residual = window_actions - jnp.clip(opt_psi @ new_w, low, high)[None]",
        "residual = window_actions - jnp.clip(opt_psi @ w, low, high)[None]",
    ),
    Bug(
        "LQR ground truth in FQI's features",
        "greedy_gain_sign",
        "the greedy gain read from q's blocks has the wrong sign (argmax u = +K x)",
        FQI_TRUTH,
        "return jnp.linalg.solve(H[n:, n:], H[n:, :n])",
        "return -jnp.linalg.solve(H[n:, n:], H[n:, :n])",
    ),
    Bug(
        "LQR ground truth in FQI's features",
        "q_matrix_not_halved",
        "the cross terms z_i z_j are counted twice when theta is read back as a symmetric H",
        FQI_TRUTH,
        "return -0.5 * (upper + upper.T), -theta[0]",
        "return -(upper + upper.T), -theta[0]",
    ),
    Bug(
        "LQR ground truth in FQI's features",
        "optimal_q_matrix_no_discount",
        "q*'s matrix H* = -(cost + gamma [A B]^T P [A B]) forgets gamma",
        "lib/problems/lqr.py",
        "H = cost + lqr.gamma * AB.T @ solution.P @ AB",
        "H = cost + AB.T @ solution.P @ AB",
    ),
    Bug(
        "LQR ground truth in FQI's features",
        "q_errors_mean_absolute",
        "the error of q_n is the mean absolute error, not the root-mean-square the page reports",
        FQI_TRUTH,
        "return jnp.sqrt(jnp.mean((values - reference[None]) ** 2, axis=1))",
        "return jnp.mean(jnp.abs(values - reference[None]), axis=1)",
    ),
    # ------------------------------------------------------------------ chapter 21
    Bug(
        "LQR Riccati solution",
        "riccati_gain_no_discount",
        "the optimal gain K = gamma (R + gamma B^T P B)^-1 B^T P A loses its leading gamma",
        "lib/problems/lqr.py",
        "return lqr.gamma * jnp.linalg.solve(lqr.R + lqr.gamma * lqr.B.T @ P @ lqr.B, lqr.B.T @ P @ lqr.A)",
        "return jnp.linalg.solve(lqr.R + lqr.gamma * lqr.B.T @ P @ lqr.B, lqr.B.T @ P @ lqr.A)",
    ),
    Bug(
        "LQR Riccati solution",
        "riccati_no_control_cost",
        "the Riccati map drops the control cost K^T R K",
        "lib/problems/lqr.py",
        "return lqr.Q + K.T @ lqr.R @ K + lqr.gamma * closed_loop.T @ P @ closed_loop",
        "return lqr.Q + lqr.gamma * closed_loop.T @ P @ closed_loop",
    ),
    Bug(
        "LQR Riccati solution",
        "riccati_open_loop",
        "the Riccati map propagates P with A instead of the closed loop A - B K",
        "lib/problems/lqr.py",
        "closed_loop = lqr.A - lqr.B @ K\n",
        "closed_loop = lqr.A\n",
    ),
    Bug(
        "LQR Riccati solution",
        "optimal_q_no_discount",
        "q*(x, u) = r + gamma E[v*(x')] forgets gamma",
        "lib/problems/lqr.py",
        "return reward(lqr, x, u) + lqr.gamma * expected_next_value",
        "return reward(lqr, x, u) + expected_next_value",
    ),
    Bug(
        "Algorithm 21.1 (NFQCA)",
        "nfqca_no_discount",
        "NFQCA's target r + gamma q(s', d(s')) forgets gamma",
        NFQCA,
        "targets = batch.reward + config.gamma * not_terminal(batch) * q_apply(",
        "targets = batch.reward + not_terminal(batch) * q_apply(",
    ),
    Bug(
        "Algorithm 21.1 (NFQCA)",
        "nfqca_policy_descends_q",
        "the policy step minimizes q(s, d(s; w)) instead of maximizing it",
        NFQCA,
        "return -jnp.mean(q_apply(theta, batch.observation, policy_apply(w, batch.observation)))",
        "return jnp.mean(q_apply(theta, batch.observation, policy_apply(w, batch.observation)))",
    ),
    Bug(
        "Algorithm 21.1 (NFQCA)",
        "nfqca_target_at_current_state",
        "the target evaluates the policy's action at s instead of s'",
        NFQCA,
        "next_actions = policy_apply(w, batch.next_observation)",
        "next_actions = policy_apply(w, batch.observation)",
    ),
    Bug(
        "Algorithm 21.1 (NFQCA)",
        "nfqca_policy_on_old_critic",
        "the policy ascends the old critic theta_n instead of the one just fitted",
        NFQCA,
        "w = minimize(w, theta)\n",
        "w = minimize(w, carry[0])\n",
    ),
    Bug(
        "Algorithm 21.2 (DDPG)",
        "ddpg_target_from_online",
        "the target y is computed from the online networks instead of the target networks",
        DDPG_TD3,
        "next_actions = policy_action(env, state.policy_target, batch.next_observation)\n"
        "    next_q = q_apply(state.q_target, batch.next_observation, next_actions)",
        "next_actions = policy_action(env, state.policy, batch.next_observation)\n"
        "    next_q = q_apply(state.q, batch.next_observation, next_actions)",
    ),
    Bug(
        "Algorithm 21.2 (DDPG)",
        "ddpg_bootstraps_past_terminal",
        "the target bootstraps past a terminal state",
        DDPG_TD3,
        "y = batch.reward + config.gamma * not_terminal(batch) * next_q",
        "y = batch.reward + config.gamma * next_q",
    ),
    Bug(
        "Algorithm 21.2 (DDPG)",
        "ddpg_policy_on_old_critic",
        "the policy step ascends the critic from before this update's critic step",
        DDPG_TD3,
        "return -jnp.mean(q_apply(q, batch.observation, policy_action(env, w, batch.observation)))",
        "return -jnp.mean(q_apply(state.q, batch.observation, policy_action(env, w, batch.observation)))",
    ),
    Bug(
        "Algorithm 21.2 (DDPG)",
        "polyak_reversed",
        "Polyak averaging with tau and 1 - tau swapped: the target jumps to the online network",
        "lib/parts/nets.py",
        "lambda t, o: tau * o + (1.0 - tau) * t",
        "lambda t, o: (1.0 - tau) * o + tau * t",
    ),
    Bug(
        "Algorithm 21.2 (DDPG)",
        "ou_noise_without_sqrt_dt",
        "the OU step scales the Brownian increment by dt instead of sqrt(dt)",
        NOISE,
        "return noise + theta * (mu - noise) * dt + sigma * jnp.sqrt(dt) * eps",
        "return noise + theta * (mu - noise) * dt + sigma * dt * eps",
    ),
    Bug(
        "Algorithm 21.3 (TD3)",
        "td3_one_critic",
        "the target takes the first critic alone instead of the minimum of the twins",
        DDPG_TD3,
        "q_target = jnp.min(target_critics(batch.next_observation, smoothed), axis=0)",
        "q_target = target_critics(batch.next_observation, smoothed)[0]",
    ),
    Bug(
        "Algorithm 21.3 (TD3)",
        "td3_unclipped_noise",
        "the target smoothing noise is not clipped to [-c, c]",
        DDPG_TD3,
        "smoothed = target_policy(batch.next_observation) + jnp.clip(noise, -noise_clip, noise_clip)",
        "smoothed = target_policy(batch.next_observation) + noise",
    ),
    Bug(
        "Algorithm 21.3 (TD3)",
        "td3_no_delay",
        "the policy and the targets move at every critic update (no delay d)",
        DDPG_TD3,
        "state.step % config.policy_delay == 0,",
        "True,",
    ),
    Bug(
        "Algorithm 21.3 (TD3)",
        "td3_target_from_online_policy",
        "the smoothed target action comes from the online policy instead of the target policy",
        DDPG_TD3,
        "lambda s: policy_action(env, state.policy_target, s),",
        "lambda s: policy_action(env, state.policy, s),",
    ),
    Bug(
        "Algorithm 21.3 (TD3)",
        "td3_policy_on_twin_minimum",
        "the policy ascends the minimum of the twins instead of q^A alone",
        DDPG_TD3,
        "return -jnp.mean(first_q_apply(q, observation, policy_action(env, policy, observation)))",
        "return -jnp.mean(jnp.min(twin_q_apply(q, observation, policy_action(env, policy, observation)), axis=0))",
    ),
    Bug(
        "Algorithm 21.3 (TD3)",
        "td3_policy_on_second_critic",
        "the policy ascends q^B instead of q^A",
        DDPG_TD3,
        "return -jnp.mean(first_q_apply(q, observation, policy_action(env, policy, observation)))",
        "return -jnp.mean(twin_q_apply(q, observation, policy_action(env, policy, observation))[1])",
    ),
    Bug(
        "Algorithm 21.3 (TD3)",
        "td3_policy_on_old_critic",
        "the policy step ascends q^A from before this update's critic step",
        DDPG_TD3,
        "grad_d = jax.grad(lambda w: td3_policy_loss(env, q, w, batch.observation))(policy)",
        "grad_d = jax.grad(lambda w: td3_policy_loss(env, state.q, w, batch.observation))(policy)",
    ),
    # ------------------------------------------------------------------ chapter 22
    Bug(
        "Algorithm 22.1 (SAC)",
        "sac_value_target_plus_entropy_sign",
        "the value target adds alpha log d instead of subtracting it (an entropy penalty)",
        SAC_SHARED,
        "return jnp.min(twin_q_apply(q_params, observation, action), axis=0) - alpha * log_prob",
        "return jnp.min(twin_q_apply(q_params, observation, action), axis=0) + alpha * log_prob",
    ),
    Bug(
        "Algorithm 22.1 (SAC)",
        "sac_no_temperature_in_policy_loss",
        "the policy loss forgets the temperature: log d - q instead of alpha log d - q",
        SAC_SHARED,
        "return jnp.mean(alpha * log_prob - q_values)",
        "return jnp.mean(log_prob - q_values)",
    ),
    Bug(
        "Algorithm 22.1 (SAC)",
        "sac_q_target_from_online_value",
        "the Q target bootstraps from the online value network instead of its target copy",
        SAC_BOX,
        "mlp_apply(state.value_target, s_next)[:, 0]",
        "mlp_apply(state.value, s_next)[:, 0]",
    ),
    Bug(
        "Algorithm 22.1 (SAC)",
        "sac_value_target_one_critic",
        "the value target takes the first Q-network alone instead of the minimum of the twins",
        SAC_SHARED,
        "return jnp.min(twin_q_apply(q_params, observation, action), axis=0) - alpha * log_prob",
        "return twin_q_apply(q_params, observation, action)[0] - alpha * log_prob",
    ),
    Bug(
        "Soft Bellman solution (finite MDP)",
        "soft_max_without_temperature",
        "the soft maximum forgets to multiply the log-sum-exp back by beta",
        SMOOTH,
        "return best[..., 0] + temperature * jax.nn.logsumexp(scaled, axis=-1)",
        "return best[..., 0] + jax.nn.logsumexp(scaled, axis=-1)",
    ),
    Bug(
        "Soft Bellman solution (finite MDP)",
        "soft_value_iteration_no_inner_temperature",
        "soft value iteration divides q by beta outside the log-sum-exp only",
        SMOOTH,
        "return temperature * jax.nn.logsumexp(q_from_v(mdp, values) / temperature, axis=-1), None",
        "return temperature * jax.nn.logsumexp(q_from_v(mdp, values), axis=-1), None",
    ),
    Bug(
        "Soft Bellman solution (finite MDP)",
        "entropy_sign",
        "the entropy is sum p log p, without the minus sign",
        SMOOTH,
        "return -jnp.sum(jax.scipy.special.xlogy(policy, policy), axis=-1)",
        "return jnp.sum(jax.scipy.special.xlogy(policy, policy), axis=-1)",
    ),
    Bug(
        "Soft Bellman solution (finite MDP)",
        "soft_gap_bound_no_horizon",
        "the bound beta log|A| / (1 - gamma) on v_beta - v* loses its 1 / (1 - gamma)",
        SMOOTH,
        "return temperature * np.log(num_actions) / (1.0 - gamma)",
        "return temperature * np.log(num_actions)",
    ),
    Bug(
        "Finite-MDP exact answers",
        "evaluation_no_discount",
        "exact policy evaluation solves (I - P_d) v = r_d, forgetting gamma",
        "lib/problems/mdp.py",
        "return jnp.linalg.solve(jnp.eye(num_states) - mdp.gamma * transitions_d, rewards_d)",
        "return jnp.linalg.solve(jnp.eye(num_states) - transitions_d, rewards_d)",
    ),
    Bug(
        "Finite-MDP exact answers",
        "q_from_v_transposed",
        "q(s, a) = r + gamma P v reads the transition tensor along the wrong axis",
        "lib/problems/mdp.py",
        "return mdp.rewards + mdp.gamma * mdp.transitions @ values",
        "return mdp.rewards + mdp.gamma * jnp.einsum('sat,s->ta', mdp.transitions, values)",
    ),
    Bug(
        "Finite-MDP exact answers",
        "value_iteration_mean_not_max",
        "value iteration averages over actions instead of maximizing",
        "lib/problems/mdp.py",
        "return jnp.max(q_from_v(mdp, values), axis=1), None",
        "return jnp.mean(q_from_v(mdp, values), axis=1), None",
    ),
    Bug(
        "Finite-MDP exact answers",
        "visitation_not_transposed",
        "the discounted visitation solves (I - gamma P_d) x = alpha instead of its transpose",
        "lib/problems/mdp.py",
        "occupancy = jnp.linalg.solve((jnp.eye(num_states) - mdp.gamma * transitions_d).T, mdp.initial)",
        "occupancy = jnp.linalg.solve(jnp.eye(num_states) - mdp.gamma * transitions_d, mdp.initial)",
    ),
    # ------------------------------------------------------------------ chapter 23
    Bug(
        "Derivative estimators and their exact moments",
        "true_gradient_wrong",
        "the true gradient of theta (1 + theta^2) is written 1 + theta^2 (the naive estimator's mean)",
        "lib/algorithms/estimators.py",
        "return 1.0 + 3.0 * theta**2",
        "return 1.0 + theta**2",
    ),
    Bug(
        "Derivative estimators and their exact moments",
        "score_function_without_direct_term",
        "the score-function estimator drops the direct derivative df/dtheta",
        "lib/algorithms/estimators.py",
        "return _average(fx + jax.lax.stop_gradient(fx) * log_density(x, t), weights)",
        "return _average(jax.lax.stop_gradient(fx) * log_density(x, t), weights)",
    ),
    Bug(
        "Derivative estimators and their exact moments",
        "reparameterization_stops_the_path",
        "the pathwise estimator stops the gradient through x = theta + eps (the naive estimator)",
        "lib/algorithms/estimators.py",
        "return jax.grad(lambda t: _average(f(t + eps, t), weights))(theta)",
        "return jax.grad(lambda t: _average(f(jax.lax.stop_gradient(t) + eps, t), weights))(theta)",
    ),
    Bug(
        "Derivative estimators and their exact moments",
        "sf_variance_wrong",
        "the score-function variance formula drops its theta^6 term",
        "lib/algorithms/estimators.py",
        "t2**3 + 18.0 * t2**2 + 39.0 * t2 + 2.0",
        "18.0 * t2**2 + 39.0 * t2 + 2.0",
    ),
    Bug(
        "Reparameterized samplers",
        "gumbel_sign",
        "Gumbel noise written log(-log u) instead of -log(-log u)",
        "lib/parts/samplers.py",
        "return -jnp.log(-jnp.log(u))",
        "return jnp.log(-jnp.log(u))",
    ),
    Bug(
        "Reparameterized samplers",
        "gumbel_softmax_no_temperature",
        "the Gumbel-softmax forgets to divide by its temperature",
        "lib/parts/samplers.py",
        "return jax.nn.softmax((logits + gumbel) / temperature, axis=-1)",
        "return jax.nn.softmax(logits + gumbel, axis=-1)",
    ),
    Bug(
        "Reparameterized samplers",
        "kumaraswamy_density_missing_beta",
        "the Kumaraswamy log-density drops log(beta) from its normalizing constant",
        "lib/parts/samplers.py",
        "return jnp.log(alpha * beta) + (alpha - 1.0) * log_x",
        "return jnp.log(alpha) + (alpha - 1.0) * log_x",
    ),
    Bug(
        "Reparameterized samplers",
        "truncated_normal_not_renormalized",
        "the truncated normal's log-density forgets to divide by the mass Phi(beta) - Phi(alpha) it keeps",
        "lib/parts/samplers.py",
        "log_p = normal - log_mass",
        "log_p = normal",
    ),
    # ------------------------------------------------------------------ chapter 24
    Bug(
        "Policy gradient theorem (finite MDP)",
        "occupancy_normalized",
        "the theorem weighs by the normalized visitation, forgetting the 1 / (1 - gamma)",
        PG_EXACT,
        "return discounted_visitation(mdp, policy) / (1.0 - mdp.gamma)",
        "return discounted_visitation(mdp, policy)",
    ),
    Bug(
        "Policy gradient theorem (finite MDP)",
        "theorem_no_discount_on_next_value",
        "the one-step backup in the theorem forgets gamma before P_d v",
        PG_EXACT,
        "return rewards_d + mdp.gamma * transitions_d @ values",
        "return rewards_d + transitions_d @ values",
    ),
    Bug(
        "Policy gradient theorem (finite MDP)",
        "expected_gae_no_lambda",
        "the expected GAE advantage propagates later TD errors with gamma instead of gamma lambda",
        PG_EXACT,
        "return deltas + mdp.gamma * lam * mdp.transitions @ future",
        "return deltas + mdp.gamma * mdp.transitions @ future",
    ),
    Bug(
        "Policy gradient theorem (finite MDP)",
        "visitation_sampler_off_by_one",
        "the visitation sampler walks one step too many (geometric time counted from 1)",
        PG_EXACT,
        "stop = jax.random.geometric(key_time, 1.0 - mdp.gamma) - 1",
        "stop = jax.random.geometric(key_time, 1.0 - mdp.gamma)",
    ),
    Bug(
        "Algorithm 24.1 (policy gradient with a baseline)",
        "baseline_added",
        "the baseline is added to the return instead of subtracted (finite-MDP estimator)",
        PG_EST,
        'psi["baseline"] = psi["reward_to_go"] - discounts * values',
        'psi["baseline"] = psi["reward_to_go"] + discounts * values',
    ),
    Bug(
        "Algorithm 24.1 (policy gradient with a baseline)",
        "returns_to_go_no_discount",
        "the return to go R_t sums rewards without discounting",
        ONPOLICY,
        "value = reward + gamma * (1.0 - ended) * future",
        "value = reward + (1.0 - ended) * future",
    ),
    Bug(
        "Algorithm 24.1 (policy gradient with a baseline)",
        "baseline_sign_cartpole",
        "CartPole's box 24.1 weighs the score by b(s) - R_t instead of R_t - b(s)",
        PG_BOXES,
        "advantages = returns - state_value(value, rollout.observations)  # 2.4",
        "advantages = state_value(value, rollout.observations) - returns  # 2.4",
    ),
    Bug(
        "Algorithm 24.1 (policy gradient with a baseline)",
        "rewards_to_go_not_discounted_in_time",
        "psi_t = G_t without the gamma^t that the discounted objective puts on step t",
        PG_EST,
        "return discounts * discounted_returns_to_go(rewards, done, gamma)",
        "return discounted_returns_to_go(rewards, done, gamma)",
    ),
    Bug(
        "Algorithm 24.2 (value control variate, mini-batches)",
        "minibatch_advantages_not_normalized",
        "step 2.6 is skipped: the advantages are not normalized",
        PG_BOXES,
        "advantages = normalize(advantages, weights)",
        "advantages = advantages",
    ),
    Bug(
        "Algorithm 24.2 (value control variate, mini-batches)",
        "minibatch_advantage_from_unfitted_value",
        "A = R - v uses the value network before its fit instead of after",
        PG_BOXES,
        "advantages = targets - state_value(value, observations)",
        "advantages = targets - state_value(state.value, observations)",
    ),
    Bug(
        "Algorithm 24.2 (value control variate, mini-batches)",
        "minibatch_policy_loss_sign",
        "the policy loss mean log d A is minimized instead of maximized",
        "lib/algorithms/policy_gradient/agent.py",
        "return -masked_mean(log_probs * advantages, mask)",
        "return masked_mean(log_probs * advantages, mask)",
    ),
    Bug(
        "Algorithm 24.2 (value control variate, mini-batches)",
        "value_targets_are_rewards",
        "the value network regresses on the one-step reward instead of the return to go R_t",
        PG_BOXES,
        "_flatten(rollout.observations, rollout.actions, returns, mask)",
        "_flatten(rollout.observations, rollout.actions, rollout.rewards, mask)",
    ),
    Bug(
        "Algorithm 24.3 (GAE actor-critic)",
        "value_target_is_old_value",
        "the value fit regresses on A instead of the lambda-return A + v_old",
        PG_BOXES,
        "targets = advantages + values  # 2.2.4",
        "targets = advantages  # 2.2.4",
    ),
    Bug(
        "Algorithm 24.3 (GAE actor-critic)",
        "gae_no_lambda",
        "GAE propagates later TD errors with gamma instead of gamma lambda",
        ONPOLICY,
        "advantage = delta + gamma * lam * (1.0 - ended) * future",
        "advantage = delta + gamma * (1.0 - ended) * future",
    ),
    Bug(
        "Algorithm 24.3 (GAE actor-critic)",
        "gae_bootstraps_past_terminal",
        "the TD error bootstraps v(s') past a true terminal state",
        ONPOLICY,
        "deltas = rewards + gamma * (1.0 - terminated) * next_values - values",
        "deltas = rewards + gamma * next_values - values",
    ),
    Bug(
        "Algorithm 24.3 (GAE actor-critic)",
        "gae_crosses_episode_ends",
        "the advantage recursion runs across the end of an episode",
        ONPOLICY,
        "advantage = delta + gamma * lam * (1.0 - ended) * future",
        "advantage = delta + gamma * lam * future",
    ),
    Bug(
        "Algorithm 24.3 (GAE actor-critic)",
        "gae_td_error_sign",
        "the TD error is v(s) - r - gamma v(s') (sign flipped)",
        ONPOLICY,
        "deltas = rewards + gamma * (1.0 - terminated) * next_values - values",
        "deltas = values - rewards - gamma * (1.0 - terminated) * next_values",
    ),
    Bug(
        "Algorithm 24.4 (actor-critic with TD(0))",
        "td0_no_discount",
        "the TD(0) error forgets gamma",
        PG_BOXES,
        "deltas = step.rewards + config.gamma * bootstrap - state_value(state.value, step.observations)  # 2.2.3",
        "deltas = step.rewards + bootstrap - state_value(state.value, step.observations)  # 2.2.3",
    ),
    Bug(
        "Algorithm 24.4 (actor-critic with TD(0))",
        "td0_bootstraps_past_terminal",
        "the TD(0) error bootstraps v(s') past a true terminal state",
        PG_BOXES,
        "bootstrap = (1.0 - step.terminated) * state_value(state.value, step.next_observations)",
        "bootstrap = state_value(state.value, step.next_observations)",
    ),
    Bug(
        "Algorithm 24.4 (actor-critic with TD(0))",
        "td0_critic_descends",
        "the critic moves against delta grad v (its surrogate's sign flipped)",
        PG_BOXES,
        "return -masked_mean(deltas * state_value(theta, step.observations), alive)",
        "return masked_mean(deltas * state_value(theta, step.observations), alive)",
    ),
    Bug(
        "Algorithm 24.4 (actor-critic with TD(0))",
        "td0_delta_through_critic",
        "delta is not held fixed: the critic's gradient flows through the target v(s')",
        PG_BOXES,
        "deltas = jax.lax.stop_gradient(deltas)\n",
        "\n",
        "deltas is computed from state.value, not from the theta the critic's surrogate differentiates, and not"
        " from w, so stop_gradient changes no gradient: this mistake needs delta computed inside the surrogate",
    ),
    Bug(
        "Algorithm 24.4 (actor-critic with TD(0))",
        "td0_actor_weighs_by_reward",
        "the actor weighs the score by the reward r_t instead of the TD error delta_t (the critic is ignored)",
        PG_BOXES,
        "(state.policy, step.observations, step.actions, deltas, alive)",
        "(state.policy, step.observations, step.actions, step.rewards, alive)",
    ),
    # ------------------------------------------------------------------ chapter 25
    Bug(
        "Algorithm 25.1 (SVG(inf))",
        "svg_inf_no_discount",
        "the rollout's return sums rewards without gamma^t",
        SVG_LOOPS,
        "return jnp.sum(gamma ** jnp.arange(rewards.shape[0]) * rewards)",
        "return jnp.sum(rewards)",
    ),
    Bug(
        "Algorithm 25.1 (SVG(inf))",
        "svg_inf_descends",
        "step 5 descends the gradient (optax minimizes and nobody negated it)",
        SVG_LOOPS,
        "return gradient_step(optimizer, params, opt_state, jax.tree_util.tree_map(jnp.negative, gradient))",
        "return gradient_step(optimizer, params, opt_state, gradient)",
    ),
    Bug(
        "Algorithm 25.1 (SVG(inf))",
        "svg_inf_no_gradient_through_state",
        "the gradient is not propagated through the model's next state s_{t+1}(w)",
        SVG_LOOPS,
        "return model.step(s, a, x), (s, a, model.reward(s, a))",
        "return jax.lax.stop_gradient(model.step(s, a, x)), (s, a, model.reward(s, a))",
    ),
    Bug(
        "Algorithm 25.1 (SVG(inf))",
        "svg_inf_discount_off_by_one",
        "the first reward is already discounted: gamma^(t+1) instead of gamma^t",
        SVG_LOOPS,
        "return jnp.sum(gamma ** jnp.arange(rewards.shape[0]) * rewards)",
        "return jnp.sum(gamma ** jnp.arange(1, rewards.shape[0] + 1) * rewards)",
    ),
    Bug(
        "Model-based gradient estimators (DPMB, SVG(n))",
        "dpmb_sf_score_sign",
        "the score-function part of DPMB-SF has its sign flipped",
        SVG_EST,
        "score_term = jax.lax.stop_gradient(q_next) * model.log_density(s, a, s_next)",
        "score_term = -jax.lax.stop_gradient(q_next) * model.log_density(s, a, s_next)",
    ),
    Bug(
        "Model-based gradient estimators (DPMB, SVG(n))",
        "dpmb_r_no_discount",
        "DPMB-R's objective r + gamma q(s', d(s')) forgets gamma",
        SVG_EST,
        "return model.reward(s, a) + gamma * critic(critic_params, model.observe(s_next), a_next)",
        "return model.reward(s, a) + critic(critic_params, model.observe(s_next), a_next)",
    ),
    Bug(
        "Model-based gradient estimators (DPMB, SVG(n))",
        "svg_n_critic_off_by_one",
        "SVG(n)'s critic is discounted by gamma^(n-1) instead of gamma^n",
        SVG_EST,
        "return partial_sums + discounts * jnp.append(qs, q_last)",
        "return partial_sums + jnp.append(1.0, discounts[:-1]) * jnp.append(qs, q_last)",
    ),
    Bug(
        "Model-based gradient estimators (DPMB, SVG(n))",
        "dpmb_sf_without_direct_term",
        "DPMB-SF keeps only the score term and drops q(s', d(s'; w))'s own gradient",
        SVG_EST,
        "return model.reward(s, a) + gamma * (q_next + score_term)",
        "return model.reward(s, a) + gamma * (jax.lax.stop_gradient(q_next) + score_term)",
    ),
    Bug(
        "LQR ground truth of a linear Gaussian policy",
        "policy_cost_no_control_cost",
        "P_K of a linear policy drops the control cost K^T R K from the stage cost",
        "lib/problems/lqr.py",
        "stage = lqr.Q + gain.T @ lqr.R @ gain",
        "stage = lqr.Q",
    ),
    Bug(
        "LQR ground truth of a linear Gaussian policy",
        "exact_return_no_exploration_cost",
        "the exact return forgets the cost sigma^2 R of the policy's own noise",
        "lib/problems/lqr.py",
        "return (jnp.sum(sigma2 * jnp.diag(lqr.R)) + lqr.gamma * jnp.trace(P @ noise)) / (1 - lqr.gamma)",
        "return (lqr.gamma * jnp.trace(P @ noise)) / (1 - lqr.gamma)",
    ),
    Bug(
        "LQR ground truth of a linear Gaussian policy",
        "q_function_no_discount",
        "the exact q_K's matrix H = diag(Q, R) + gamma [A B]^T P_K [A B] forgets gamma",
        "lib/problems/lqr.py",
        "H = jax.scipy.linalg.block_diag(lqr.Q, lqr.R) + lqr.gamma * AB.T @ P @ AB",
        "H = jax.scipy.linalg.block_diag(lqr.Q, lqr.R) + AB.T @ P @ AB",
    ),
    Bug(
        "LQR ground truth of a linear Gaussian policy",
        "n_step_objective_open_loop",
        "the exact n-step objective propagates the state mean with A instead of A - B K",
        "lib/problems/lqr.py",
        "closed = lqr.A - lqr.B @ K\n",
        "closed = lqr.A + lqr.B @ K\n",
    ),
    # ------------------------------------------------------------------ chapter 26
    Bug(
        "KL divergence and Fisher information",
        "gaussian_kl_no_variance_ratio",
        "the Gaussian KL forgets var_p in (var_p + (mu_p - mu_q)^2) / (2 var_q)",
        "lib/parts/distributions.py",
        "per_dim = log_std_q - log_std_p + (var_p + (mean_p - mean_q) ** 2) / (2.0 * var_q) - 0.5",
        "per_dim = log_std_q - log_std_p + (1.0 + (mean_p - mean_q) ** 2) / (2.0 * var_q) - 0.5",
    ),
    Bug(
        "KL divergence and Fisher information",
        "categorical_kl_reversed",
        "the categorical KL weighs by q instead of p: KL(q || p) in KL(p || q)'s place",
        "lib/parts/distributions.py",
        "return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)",
        "return jnp.sum(jnp.exp(log_q) * (log_q - log_p), axis=-1)",
    ),
    Bug(
        "KL divergence and Fisher information",
        "gaussian_fisher_log_std_block",
        "the Fisher block of log sigma is written 1 instead of 2",
        TR_FISHER,
        "2.0 * jnp.ones_like(log_std)",
        "jnp.ones_like(log_std)",
    ),
    Bug(
        "KL divergence and Fisher information",
        "conjugate_gradient_wrong_direction_update",
        "conjugate gradient's new direction forgets the previous one (steepest descent)",
        TR_FISHER,
        "d = r + jnp.where(live, rr_next / jnp.where(live, rr, 1.0), 0.0) * d",
        "d = r",
    ),
    Bug(
        "Natural policy gradient and TRPO",
        "trpo_no_line_search",
        "TRPO takes the full natural step with no line search (NPG in TRPO's place)",
        TR_OPT,
        "ok = jnp.logical_and(kls <= kl_bound, gains > 0)",
        "ok = jnp.ones_like(kls, dtype=bool)",
    ),
    Bug(
        "Natural policy gradient and TRPO",
        "natural_step_no_square_root",
        "the step length 2 delta / x^T I x is missing its square root",
        TR_OPT,
        "step = jnp.sqrt(2.0 * kl_bound / jnp.maximum(curvature, 1e-12)) * direction\n    return theta_k",
        "step = 2.0 * kl_bound / jnp.maximum(curvature, 1e-12) * direction\n    return theta_k",
    ),
    Bug(
        "Natural policy gradient and TRPO",
        "natural_step_plain_gradient",
        "the step follows the plain gradient g instead of the natural direction I^-1 g",
        TR_OPT,
        "direction = conjugate_gradient(fvp, gradient, cg_iterations)\n    curvature = direction @ fvp(direction)\n"
        "    step = jnp.sqrt(2.0 * kl_bound / jnp.maximum(curvature, 1e-12)) * direction\n    return theta_k",
        "direction = gradient\n    curvature = direction @ fvp(direction)\n"
        "    step = jnp.sqrt(2.0 * kl_bound / jnp.maximum(curvature, 1e-12)) * direction\n    return theta_k",
    ),
    Bug(
        "Natural policy gradient and TRPO",
        "trpo_accepts_without_gain",
        "the line search accepts a step inside the KL bound even when the surrogate falls",
        TR_OPT,
        "ok = jnp.logical_and(kls <= kl_bound, gains > 0)",
        "ok = kls <= kl_bound",
    ),
    Bug(
        "PPO (clipped surrogate)",
        "ppo_max_instead_of_min",
        "PPO takes the max of the clipped and unclipped terms (an optimistic bound)",
        TR_OPT,
        "policy_objective = jnp.mean(jnp.minimum(ratio * advantages, clipped * advantages))",
        "policy_objective = jnp.mean(jnp.maximum(ratio * advantages, clipped * advantages))",
    ),
    Bug(
        "PPO (clipped surrogate)",
        "ppo_unclipped",
        "PPO's ratio is not clipped (the plain surrogate)",
        TR_OPT,
        "clipped = jnp.clip(ratio, 1.0 - clip_epsilon, 1.0 + clip_epsilon)\n    policy_objective",
        "clipped = ratio\n    policy_objective",
    ),
    Bug(
        "PPO (clipped surrogate)",
        "ppo_ratio_inverted",
        "the probability ratio is inverted: d_old / d instead of d / d_old",
        TR_OPT,
        "ratio = jnp.exp(new_log_probs - batch.log_probs)\n    advantages = normalize(batch.advantages)\n    clipped",
        "ratio = jnp.exp(batch.log_probs - new_log_probs)\n    advantages = normalize(batch.advantages)\n    clipped",
    ),
    Bug(
        "PPO (clipped surrogate)",
        "ppo_entropy_penalized",
        "the entropy bonus is subtracted from the objective (added to the loss with the wrong sign)",
        TR_OPT,
        "- entropy_coef * jnp.mean(entropy(env, dist))",
        "+ entropy_coef * jnp.mean(entropy(env, dist))",
    ),
]
