"""Chapter 26: the trust-region loop, KL and its Fisher form, conjugate gradient, NPG, TRPO and PPO."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from lib.problems import envs
from lib.algorithms import trust_region as tr
from lib.core.sweep import sweep


# ---------------------------------------------------------------- the trust-region loop


@pytest.mark.parametrize("start", [(-1.2, 1.0), (2.0, -1.0)])
def test_trust_region_loop_reaches_rosenbrock_minimum(start):
    with jax.enable_x64(True):
        trace = tr.trust_region_minimize(tr.rosenbrock, jnp.array(start), tr.TrustRegionConfig(num_iterations=80))
        np.testing.assert_allclose(trace.iterates[-1], [1.0, 1.0], atol=1e-8)
        assert float(trace.values[-1]) < 1e-16


def test_trust_region_loop_invariants_monotone_values_and_radius_rule():
    config = tr.TrustRegionConfig(eta_1=0.2, eta_2=0.8, alpha_1=0.5, alpha_2=3.0, initial_radius=0.5, max_radius=4.0)
    with jax.enable_x64(True):
        trace = tr.trust_region_minimize(tr.rosenbrock, jnp.array([-1.2, 1.0]), config)
    values, radii, rho, accepted = (np.asarray(a) for a in (trace.values, trace.radii, trace.rho, trace.accepted))
    # f never increases: a step is taken only when rho >= eta_1 > 0, i.e. the actual reduction is positive.
    assert np.all(np.diff(values) <= 1e-15)
    np.testing.assert_array_equal(accepted, rho >= 0.2)
    # Rejected steps leave x where it was.
    np.testing.assert_array_equal(trace.iterates[1:][~accepted], trace.iterates[:-1][~accepted])
    expected = np.where(rho < 0.2, 0.5 * radii[:-1], np.where(rho >= 0.8, 3.0 * radii[:-1], radii[:-1]))
    np.testing.assert_allclose(radii[1:], np.minimum(expected, 4.0))
    # Every proposed step stays inside the region it was solved in.
    assert np.all(np.linalg.norm(trace.steps, axis=1) <= radii[:-1] * (1 + 1e-9))


def _gaussian_cross_entropy(theta):
    """E[-log N(x; mu, sigma^2)] for x ~ N(2, 1.5^2), theta = (mu, log sigma): minimized at (2, log 1.5)."""
    return theta[1] + (1.5**2 + (2.0 - theta[0]) ** 2) / (2 * jnp.exp(2 * theta[1]))


def _gaussian_fisher_at(theta):
    return tr.gaussian_fisher(theta[1:])


@pytest.mark.parametrize("solver", ["cauchy", "steihaug"])
def test_kl_ball_trust_region_fits_a_gaussian_with_natural_gradient_cauchy_steps_on_the_ellipses(solver):
    config = tr.TrustRegionConfig(num_iterations=40, solver=solver)
    with jax.enable_x64(True):
        trace = tr.trust_region_minimize(
            _gaussian_cross_entropy, jnp.array([-3.0, np.log(0.2)]), config, fisher=_gaussian_fisher_at
        )
    xs, steps, radii = (np.asarray(a) for a in (trace.iterates, trace.steps, trace.radii))
    np.testing.assert_allclose(xs[-1], [2.0, np.log(1.5)], atol=1e-8)
    sigma2 = np.exp(2 * xs[:-1, 1])
    fisher_form = 0.5 * (steps[:, 0] ** 2 / sigma2 + 2 * steps[:, 1] ** 2)  # 1/2 p^T diag(1/sigma^2, 2) p
    assert np.all(fisher_form <= radii[:-1] * (1 + 1e-9))
    assert (
        np.sum(np.isclose(fisher_form, radii[:-1], rtol=1e-9, atol=0.0)) >= 3
    )  # some steps end on the KL ball's boundary
    if solver == "cauchy":  # the model's minimizer along -I^-1 g: a natural-gradient step
        gradient = np.asarray(jax.vmap(jax.grad(_gaussian_cross_entropy))(jnp.asarray(xs[:-1])))
        natural = -np.stack([sigma2 * gradient[:, 0], gradient[:, 1] / 2], axis=1)
        moving = np.linalg.norm(steps, axis=1) > 1e-6  # shorter ones are at rounding level
        cosine = np.sum(steps * natural, axis=1) / (np.linalg.norm(steps, axis=1) * np.linalg.norm(natural, axis=1))
        assert moving.sum() >= 10 and np.all(cosine[moving] > 1 - 1e-9)


def test_steihaug_step_is_the_newton_step_when_it_fits_and_the_boundary_otherwise():
    with jax.enable_x64(True):
        hessian = jnp.array([[3.0, 1.0], [1.0, 2.0]])
        gradient = jnp.array([1.0, -1.0])
        newton = -jnp.linalg.solve(hessian, gradient)
        np.testing.assert_allclose(tr.steihaug_cg(gradient, hessian, 10.0), newton, atol=1e-12)
        assert float(jnp.linalg.norm(tr.steihaug_cg(gradient, hessian, 0.1))) == pytest.approx(0.1)
        # Negative curvature along -g: the step goes to the boundary.
        indefinite = jnp.diag(jnp.array([-1.0, 2.0]))
        step = tr.steihaug_cg(jnp.array([1.0, 0.0]), indefinite, 0.7)
        np.testing.assert_allclose(step, [-0.7, 0.0], atol=1e-12)


def test_cauchy_point_minimizes_the_model_along_the_gradient():
    with jax.enable_x64(True):
        hessian, gradient = jnp.array([[2.0, 0.0], [0.0, 20.0]]), jnp.array([1.0, 1.0])
        step = tr.cauchy_point(gradient, hessian, 5.0)
        taus = np.linspace(0.0, 5.0 / np.sqrt(2.0), 20001)
        model = [float(tr.model_decrease(gradient, hessian, -t * gradient)) for t in taus[::100]]
        assert float(tr.model_decrease(gradient, hessian, step)) >= max(model) - 1e-12


@pytest.mark.parametrize(
    "field, value",
    [
        ("eta_1", 0.0),
        ("eta_1", 1.0),
        ("alpha_1", 1.0),
        ("alpha_1", 0.0),
        ("alpha_2", 1.0),
        ("initial_radius", 0.0),
        ("initial_radius", -1.0),
        ("num_iterations", 0),
    ],
)
def test_trust_region_config_rejects_out_of_range_values(field, value):
    with pytest.raises(ValueError, match=field):
        tr.TrustRegionConfig(**{field: value})


def test_trust_region_config_rejects_eta_1_not_below_eta_2():
    with pytest.raises(ValueError, match="eta_2"):
        tr.TrustRegionConfig(eta_1=0.5, eta_2=0.5)
    with pytest.raises(ValueError, match="eta_2"):
        tr.TrustRegionConfig(eta_1=0.8, eta_2=0.3)


def test_trust_region_config_rejects_unknown_solver():
    with pytest.raises(ValueError, match="solver"):
        tr.TrustRegionConfig(solver="newton")


# ---------------------------------------------------------------- KL and Fisher


def test_gaussian_kl_matches_scipy_integral():
    mean_p, std_p, mean_q, std_q = 0.3, 0.7, -0.4, 1.3
    xs = np.linspace(-12, 12, 200001)
    p, q = scipy.stats.norm.pdf(xs, mean_p, std_p), scipy.stats.norm.pdf(xs, mean_q, std_q)
    numeric = np.trapezoid(p * np.log(p / q), xs)
    exact = tr.gaussian_kl(
        jnp.array([mean_p]), jnp.log(jnp.array([std_p])), jnp.array([mean_q]), jnp.log(jnp.array([std_q]))
    )
    assert float(exact) == pytest.approx(numeric, rel=1e-5)


def test_categorical_kl_matches_scipy_entropy():
    logits_p, logits_q = jnp.array([0.2, -1.0, 1.5, 0.0]), jnp.array([1.0, 0.3, -0.5, 0.2])
    p, q = jax.nn.softmax(logits_p), jax.nn.softmax(logits_q)
    assert float(tr.categorical_kl(logits_p, logits_q)) == pytest.approx(scipy.stats.entropy(p, q), rel=1e-5)


def _kl_and_fisher_errors(kind, epsilons):
    key = jax.random.PRNGKey(3)
    if kind == "categorical":
        theta = jax.random.normal(key, (5,))
        kl = lambda t: tr.categorical_kl(t, theta)
        fisher = tr.categorical_fisher(theta)
    else:
        theta = jax.random.normal(key, (6,))  # (mean[3], log_std[3])
        kl = lambda t: tr.gaussian_kl(t[:3], t[3:], theta[:3], theta[3:])
        fisher = tr.gaussian_fisher(theta[3:])
    direction = jax.random.normal(jax.random.PRNGKey(4), theta.shape)
    return np.array(
        [
            abs(float(kl(theta + e * direction)) - float(tr.fisher_quadratic_form(fisher, e * direction)))
            for e in epsilons
        ]
    )


@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_fisher_form_error_shrinks_like_the_cube_of_the_step(kind):
    with jax.enable_x64(True):
        epsilons = 0.1 * 0.5 ** np.arange(5)
        errors = _kl_and_fisher_errors(kind, epsilons)
    ratios = errors[:-1] / errors[1:]
    # Third-order remainder: halving the step divides the error by 2^3 = 8.
    np.testing.assert_allclose(ratios[-2:], 8.0, rtol=0.05)


def test_fisher_vector_product_by_autodiff_equals_the_analytic_fisher():
    with jax.enable_x64(True):
        theta = jnp.array([0.5, -0.2, 1.0, 0.1])
        mean_kl = lambda t: tr.categorical_kl(theta, t)  # KL(pi_k || pi_t), theta_k fixed
        v = jnp.array([1.0, 2.0, -1.0, 0.5])
        np.testing.assert_allclose(
            tr.fisher_vector_product(mean_kl, theta, v), tr.categorical_fisher(theta) @ v, atol=1e-12
        )
        np.testing.assert_allclose(
            tr.fisher_vector_product(mean_kl, theta, v, damping=0.3),
            tr.categorical_fisher(theta) @ v + 0.3 * v,
            atol=1e-12,
        )


def test_conjugate_gradient_solves_a_known_spd_system():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        m = rng.normal(size=(6, 6))
        a = jnp.asarray(m @ m.T + 0.5 * np.eye(6))
        b = jnp.asarray(rng.normal(size=6))
        x = tr.conjugate_gradient(lambda v: a @ v, b, num_iterations=6)
        np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-8)
        # Extra iterations after convergence do nothing harmful (no 0/0).
        assert np.all(np.isfinite(tr.conjugate_gradient(lambda v: a @ v, b, num_iterations=30)))


def test_conjugate_gradient_rejects_non_positive_iteration_count():
    with pytest.raises(ValueError, match="num_iterations"):
        tr.conjugate_gradient(lambda v: v, jnp.ones(3), num_iterations=0)


def test_conjugate_gradient_refuses_an_indefinite_matrix_and_under_jit_stops_before_the_bad_direction():
    indefinite = jnp.diag(jnp.array([1.0, -1.0]))
    b = jnp.array([1.0, 1.0])  # the first direction d = b has d^T A d = 0
    with pytest.raises(ValueError, match="matvec.*positive-definite"):
        tr.conjugate_gradient(lambda v: indefinite @ v, b, num_iterations=2)
    # Under jit there is no value to raise on: the refusal returns the iterate before that direction, x = 0.
    x = jax.jit(lambda b: tr.conjugate_gradient(lambda v: indefinite @ v, b, num_iterations=2))(b)
    np.testing.assert_array_equal(x, [0.0, 0.0])
    later = jnp.diag(jnp.array([4.0, 4.0, -1.0]))  # positive curvature along the first direction b
    x = jax.jit(lambda b: tr.conjugate_gradient(lambda v: later @ v, b, num_iterations=3))(jnp.ones(3))
    assert np.all(np.isfinite(np.asarray(x))) and float(jnp.linalg.norm(x)) > 0


# ---------------------------------------------------------------- NPG, TRPO, PPO


def _cartpole_batch(env, params, size=256):
    """States from a short random walk and actions, advantages from a fixed seed."""
    keys = jax.random.split(jax.random.PRNGKey(7), 4)
    observations = jax.random.normal(keys[0], (size, env.observation_size)) * 0.1
    dist = tr.distribution(env, params.policy, params.log_std, observations)
    actions, log_probs = jax.vmap(lambda d, k: tr.sample(env, d, k))(dist, jax.random.split(keys[1], size))
    advantages = jax.random.normal(keys[2], (size,)) + (actions == 1) * 1.0
    return tr.Batch(observations, actions, log_probs, advantages, jnp.zeros(size))


KL_BOUNDS = (0.01, 0.02)


@pytest.fixture(scope="module")
def trpo_steps():
    """One TRPO update of a small CartPole policy for each KL bound (one compilation, vmapped).

    Without damping the full natural step of this near-uniform policy overshoots the bound (its
    exact KL is several times the Fisher form), so the line search has real work to do."""
    env = envs.make("CartPole-v1")
    params = tr.init_policy(jax.random.PRNGKey(0), env, (16,), (16,))
    batch = _cartpole_batch(env, params)
    # Advantage +1 for pushing toward the side the cart is on, -1 otherwise: along the natural
    # direction the surrogate still improves where the exact KL already exceeds the bound, so the
    # KL test (not the improvement test) must stop the line search.
    batch = batch._replace(advantages=jnp.sign(batch.observations[:, 0]) * (2.0 * batch.actions - 1.0))
    update = jax.vmap(
        lambda bound: (
            tr.trpo_update(env, params, batch, bound, cg_damping=0.0),
            tr.npg_update(env, params, batch, bound, cg_damping=0.0)[1],
        )
    )
    (new_params, reported_kl), full_step_kl = jax.jit(update)(jnp.array(KL_BOUNDS))
    old = tr.distribution(env, params.policy, params.log_std, batch.observations)
    kls = []
    for i in range(len(KL_BOUNDS)):
        one = jax.tree_util.tree_map(lambda x: x[i], new_params)
        new = tr.distribution(env, one.policy, one.log_std, batch.observations)
        kls.append(float(jnp.mean(tr.policy_kl(env, old, new))))
    return np.array(kls), np.asarray(reported_kl), np.asarray(full_step_kl)


@pytest.mark.parametrize("index", range(len(KL_BOUNDS)), ids=[f"delta={b}" for b in KL_BOUNDS])
def test_trpo_accepted_step_satisfies_the_kl_bound(trpo_steps, index):
    kls, reported, full_step = trpo_steps
    assert full_step[index] > KL_BOUNDS[index]  # the untruncated natural step would violate the bound
    assert 0.0 < kls[index] <= KL_BOUNDS[index]
    assert kls[index] == pytest.approx(float(reported[index]), rel=1e-4)


def test_npg_step_fills_the_fisher_form_of_the_kl_bound_to_second_order():
    env = envs.make("Pendulum-v1")
    params = tr.init_policy(jax.random.PRNGKey(1), env, (16,), (16,))
    observations = jax.random.normal(jax.random.PRNGKey(2), (256, 3))
    dist = tr.distribution(env, params.policy, params.log_std, observations)
    actions, log_probs = jax.vmap(lambda m, s, k: tr.sample(env, (m, s), k))(
        *dist, jax.random.split(jax.random.PRNGKey(3), 256)
    )
    batch = tr.Batch(observations, actions, log_probs, actions[:, 0] - actions[:, 0].mean(), jnp.zeros(256))
    # No damping, enough CG steps: the exact KL of the full natural step is delta up to third order.
    new_params, kl = jax.jit(tr.npg_update, static_argnums=(0, 4))(env, params, batch, 1e-4, 40, 0.0)
    assert float(kl) == pytest.approx(1e-4, rel=0.05)


def test_ppo_loss_has_no_gradient_when_every_ratio_is_clipped_in_the_advantage_direction():
    env = envs.make("CartPole-v1")
    params = tr.init_policy(jax.random.PRNGKey(0), env, (16,), (16,))
    batch = _cartpole_batch(env, params)
    # Pretend the data came from a policy with ratio e^2 > 1 + eps where the (normalized) advantage
    # is positive and e^-2 < 1 - eps where it is negative: every term is clipped, nothing moves the actor.
    normalized = (batch.advantages - batch.advantages.mean()) / (batch.advantages.std() + 1e-8)
    pushed = batch._replace(log_probs=batch.log_probs - 2.0 * jnp.sign(normalized))
    gradient = jax.jit(jax.grad(lambda p, b: tr.ppo_loss(env, p, b, 0.2, value_coef=0.0, entropy_coef=0.0)))
    grads = gradient(params, pushed)
    assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(grads.policy)) == 0.0
    grads = gradient(params, batch)
    assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(grads.policy)) > 0.0


@pytest.mark.parametrize(
    "field, value",
    [
        ("clip_epsilon", 0.0),
        ("clip_epsilon", 1.0),
        ("clip_epsilon", -0.1),
        ("kl_bound", 0.0),
        ("lam", 1.5),
        ("gamma", -0.1),
        ("learning_rate", 0.0),
        ("backtrack_ratio", 1.0),
        ("num_envs", 0),
        ("algorithm", "sgd"),
    ],
)
def test_policy_config_rejects_out_of_range_values(field, value):
    with pytest.raises(ValueError, match=field):
        tr.PolicyOptimizationConfig(**{field: value})


def test_policy_config_rejects_minibatches_that_do_not_divide_the_batch():
    with pytest.raises(ValueError, match="num_minibatches"):
        tr.PolicyOptimizationConfig(num_envs=4, rollout_length=5, num_minibatches=3)


@pytest.mark.parametrize("field, value", [("clip_epsilon", [0.1, 1.2]), ("kl_bound", -0.01), ("algorithm", "a2c")])
def test_knobs_reject_out_of_range_values(field, value):
    with pytest.raises(ValueError, match=field):
        tr.make_knobs(tr.PolicyOptimizationConfig(), **{field: value})


def test_ppo_learns_cartpole_in_a_short_run():
    env = envs.make("CartPole-v1")
    config = tr.PolicyOptimizationConfig(total_steps=40_960, policy_hidden=(32, 32), value_hidden=[32, 32])
    params, log = jax.jit(tr.make_train(env, config))(jax.random.PRNGKey(0))
    # A uniform random policy lasts about 22 steps on average; learning must beat it several times over.
    assert float(log.episode_returns[-1]) > 150.0
    assert np.all(np.asarray(log.kl) < 0.1)
    assert int(log.diverged_at) == -1 and np.all(np.diff(np.asarray(log.episodes_so_far)) >= 0)


def test_ppo_learning_rate_of_iteration_i_is_the_closed_form_rate_times_one_minus_i_over_n():
    env = envs.make("CartPole-v1")
    config = tr.PolicyOptimizationConfig(
        total_steps=5 * 64, num_envs=4, rollout_length=16, policy_hidden=(4,), value_hidden=(4,), learning_rate=2.5e-3
    )
    _, log = jax.jit(tr.make_train(env, config))(jax.random.key(0))
    closed_form = np.float32(2.5e-3) * (1.0 - np.arange(5, dtype=np.float32) / np.float32(5))
    np.testing.assert_array_equal(log.learning_rate, closed_form)  # 2.5e-3, 2e-3, ... 5e-4 in float32
    fixed = dataclasses.replace(config, anneal_learning_rate=False)
    np.testing.assert_array_equal(
        jax.jit(tr.make_train(env, fixed))(jax.random.key(0))[1].learning_rate, np.full(5, np.float32(2.5e-3))
    )


def test_ppo_with_a_huge_learning_rate_diverges_and_the_sweep_says_at_which_iteration():
    env = envs.make("Pendulum-v1")
    config = tr.PolicyOptimizationConfig(
        total_steps=6 * 64,
        num_envs=4,
        rollout_length=16,
        policy_hidden=(4,),
        value_hidden=(4,),
        learning_rate=1e30,
        max_grad_norm=1e30,
    )
    with pytest.raises(RuntimeError, match="ppo training diverged.*seed 1 at step"):
        sweep({"ppo training": tr.make_train(env, config)}, num_seeds=2)


def test_pendulum_log_counts_episodes_instead_of_a_nan_sentinel():
    env = envs.make("Pendulum-v1")  # 200-step episodes, 16 steps per iteration: none ends before iteration 12
    config = tr.PolicyOptimizationConfig(
        total_steps=14 * 32, num_envs=2, rollout_length=16, policy_hidden=(4,), value_hidden=(4,)
    )
    _, log = sweep(tr.make_train(env, config), num_seeds=1)
    np.testing.assert_array_equal(log.episodes_so_far[0], [0] * 12 + [2, 2])
    assert np.all(np.isfinite(np.asarray(log.episode_returns)))
    np.testing.assert_array_equal(log.episode_returns[0, :12], 0.0)
    assert float(log.episode_returns[0, 12]) < -100  # a real Pendulum return


def test_ppo_loss_with_an_entropy_coefficient_is_the_loss_without_it_minus_c_times_the_mean_entropy():
    env = envs.make("CartPole-v1")
    params = tr.init_policy(jax.random.PRNGKey(0), env, (16,), (16,))
    batch = _cartpole_batch(env, params)
    logits = np.asarray(tr.distribution(env, params.policy, params.log_std, batch.observations), np.float64)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    mean_entropy = np.mean(-np.sum(probs * np.log(probs), axis=1))  # about log 2 for this near-uniform policy
    assert mean_entropy > 0.6
    loss = jax.jit(lambda c: tr.ppo_loss(env, params, batch, 0.2, value_coef=0.5, entropy_coef=c))
    np.testing.assert_allclose(loss(0.1), loss(0.0) - 0.1 * mean_entropy, rtol=1e-5, atol=1e-6)


def test_trpo_line_search_skips_steps_inside_the_bound_whose_surrogate_falls():
    """The overshooting batch of `trpo_steps` with delta = 3: the candidates 0.8^5 .. 0.8^7 of the full
    natural step lie inside the bound but lower the surrogate (the step overshoots); TRPO must pass them
    by and take a later candidate whose surrogate gain is positive."""
    env = envs.make("CartPole-v1")
    params = tr.init_policy(jax.random.PRNGKey(0), env, (16,), (16,))
    batch = _cartpole_batch(env, params)
    batch = batch._replace(advantages=jnp.sign(batch.observations[:, 0]) * (2.0 * batch.actions - 1.0))
    fractions = 0.8 ** jnp.arange(10)
    profile = jax.jit(lambda p, b: tr.natural_step_profile(env, p, b, 3.0, 0.2, fractions, cg_damping=0.0))(
        params, batch
    )
    inside_but_worse = (np.asarray(profile.kl) <= 3.0) & (np.asarray(profile.surrogate_gain) < -0.05)
    assert inside_but_worse.any()  # a step the KL test alone would accept
    new, kl = jax.jit(lambda p, b: tr.trpo_update(env, p, b, 3.0, cg_damping=0.0))(params, batch)
    old_dist = tr.distribution(env, params.policy, params.log_std, batch.observations)
    new_dist = tr.distribution(env, new.policy, new.log_std, batch.observations)
    ratio = np.exp(tr.log_prob(env, new_dist, batch.actions) - tr.log_prob(env, old_dist, batch.actions))
    advantages = np.asarray(batch.advantages, np.float64)
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    assert 0.0 < float(kl) <= 3.0
    assert np.mean(ratio * advantages) - np.mean(advantages) > 0.01  # the accepted step raises the surrogate
