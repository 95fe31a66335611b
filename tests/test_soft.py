"""Chapter 22: the smooth Bellman operator against exact answers, the Gaussian fit, and SAC's mechanics.

The tanh-Gaussian density itself (normalization, change of variables, sampling law) is tested in
tests/test_distributions.py; here we test that SAC's policy head uses it with the environment's bounds.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from jax import enable_x64

from lib.parts import distributions, nets
from lib.problems import envs
from lib.algorithms import soft
from lib.problems.mdp import greedy_policy, q_from_v, random_mdp, value_iteration
from lib.parts.replay import Transition

TEMPERATURES = [0.01, 0.3, 1.0, 5.0]


NUM_ACTIONS = 8


@pytest.fixture(scope="module")
def mdp32():
    return random_mdp(jax.random.PRNGKey(0), 6, NUM_ACTIONS, 0.9)


@pytest.fixture
def mdp(mdp32):
    """The same MDP in float64 (tests using it run inside enable_x64)."""
    with enable_x64(True):
        return mdp32._replace(
            transitions=jnp.asarray(mdp32.transitions, jnp.float64),
            rewards=jnp.asarray(mdp32.rewards, jnp.float64),
            initial=jnp.asarray(mdp32.initial, jnp.float64),
        )


def test_soft_bellman_operator_is_a_gamma_contraction(mdp):
    """||L_beta v - L_beta w||_inf <= gamma ||v - w||_inf on 200 random pairs, for every temperature."""
    with enable_x64(True):
        pairs = jax.random.normal(jax.random.PRNGKey(1), (200, 2, 6), jnp.float64) * 10.0

        @jax.jit
        def ratios(temperature):
            apply = lambda v: soft.soft_bellman_operator(mdp, v, temperature)
            gaps = jnp.max(jnp.abs(jax.vmap(apply)(pairs[:, 0]) - jax.vmap(apply)(pairs[:, 1])), axis=1)
            return gaps / jnp.max(jnp.abs(pairs[:, 0] - pairs[:, 1]), axis=1)

        for temperature in TEMPERATURES:
            assert float(jnp.max(ratios(temperature))) <= mdp.gamma + 1e-12


def test_soft_value_iteration_converges_to_the_unique_fixed_point(mdp):
    with enable_x64(True):
        for temperature in TEMPERATURES:
            v = soft.soft_value_iteration(mdp, temperature, 400)
            residual = jnp.max(jnp.abs(soft.soft_bellman_operator(mdp, v, temperature) - v))
            assert residual < 1e-10
            from_elsewhere = soft.soft_value_iteration(mdp, temperature, 400, initial_values=jnp.full(6, 50.0))
            np.testing.assert_allclose(from_elsewhere, v, atol=1e-10)


def test_soft_value_is_the_entropy_regularized_value_of_its_boltzmann_policy(mdp):
    """v_beta = (I - gamma P_d)^{-1}(r_d + beta H_d) at d = Boltzmann(q_beta): smooth Bellman = entropy bonus."""
    with enable_x64(True):
        for temperature in TEMPERATURES:
            solution = soft.solve_soft_mdp(mdp, temperature, 400)
            exact = soft.entropy_regularized_value(mdp, solution.policy, temperature)
            np.testing.assert_allclose(solution.values, exact, rtol=1e-10, atol=1e-10)


def test_soft_value_exceeds_the_hard_optimum_by_at_most_the_bound(mdp):
    with enable_x64(True):
        v_star = value_iteration(mdp, 400)
        for temperature in TEMPERATURES:
            gap = soft.soft_value_iteration(mdp, temperature, 400) - v_star
            bound = soft.soft_value_gap_bound(temperature, NUM_ACTIONS, mdp.gamma)
            assert jnp.all(gap >= -1e-10) and jnp.all(gap <= bound + 1e-10)


def test_soft_optimum_tends_to_the_hard_optimum_as_the_temperature_falls(mdp):
    with enable_x64(True):
        v_star = value_iteration(mdp, 400)
        q_star = q_from_v(mdp, v_star)
        gaps = [
            float(jnp.max(jnp.abs(soft.soft_value_iteration(mdp, t, 400) - v_star))) for t in (1.0, 0.1, 0.01, 0.001)
        ]
        assert all(later < earlier for earlier, later in zip(gaps, gaps[1:]))
        assert gaps[-1] < soft.soft_value_gap_bound(0.001, NUM_ACTIONS, mdp.gamma)
        cold = soft.solve_soft_mdp(mdp, 0.001, 400)
        np.testing.assert_allclose(cold.policy, greedy_policy(q_star), atol=1e-6)


def test_soft_maximum_lies_between_max_and_max_plus_beta_log_actions():
    q = jax.random.normal(jax.random.PRNGKey(2), (100, 7)) * 3.0
    for temperature in TEMPERATURES:
        smooth = soft.soft_maximum(q, temperature)
        assert jnp.all(smooth >= q.max(-1) - 1e-5)
        assert jnp.all(smooth <= q.max(-1) + temperature * np.log(7) + 1e-5)


FITTED_TEMPERATURE, FITTED_SAMPLES = 0.5, 4000


@pytest.fixture(scope="module")
def fitted_iterates(mdp32):
    return soft.soft_fitted_q_iteration(
        mdp32, jax.random.PRNGKey(3), FITTED_TEMPERATURE, num_iterations=2, num_samples=FITTED_SAMPLES
    )


def test_first_soft_fitted_q_iterate_is_exact(mdp32, fitted_iterates):
    """From q_0 = 0 the Boltzmann policy is uniform, so every sampled target equals r + gamma beta log|A|."""
    expected = mdp32.rewards + mdp32.gamma * FITTED_TEMPERATURE * np.log(NUM_ACTIONS)
    np.testing.assert_allclose(fitted_iterates[1], expected, rtol=1e-5, atol=1e-5)


def test_soft_fitted_q_targets_are_unbiased_for_the_smooth_backup(mdp32, fitted_iterates):
    """E[q_2 | q_1] = L_beta q_1 exactly; the sample mean must lie within 4 standard errors of it.

    The mean and variance of one target are computed here from the Boltzmann policy's moments; the
    library's own smooth backup (soft_maximum) must agree with that mean."""
    mdp, temperature, n, iterates = mdp32, FITTED_TEMPERATURE, FITTED_SAMPLES, fitted_iterates
    q1 = np.asarray(iterates[1], np.float64)
    log_d = np.asarray(jax.nn.log_softmax(q1 / temperature, axis=-1), np.float64)
    soft_next = q1 - temperature * log_d  # value of (s', a') inside the target
    d = np.exp(log_d)
    mean_next = (d * soft_next).sum(-1)  # = beta log sum exp(q1 / beta)
    second_next = (d * soft_next**2).sum(-1)
    transitions = np.asarray(mdp.transitions, np.float64)
    expected = np.asarray(mdp.rewards) + mdp.gamma * transitions @ mean_next
    variance = mdp.gamma**2 * (transitions @ second_next - (transitions @ mean_next) ** 2)
    library_backup = q_from_v(mdp, soft.soft_maximum(jnp.asarray(q1, jnp.float32), temperature))
    np.testing.assert_allclose(library_backup, expected, rtol=1e-5, atol=1e-5)
    z = (np.asarray(iterates[2]) - expected) / np.sqrt(variance / n)
    assert np.max(np.abs(z)) < 4.0, np.max(np.abs(z))


def test_reparameterized_loss_is_the_kl_up_to_log_partition():
    """E_eps[log d(a) - q(a)/beta] = KL(d || Boltzmann) - log Z, checked within 4 standard errors."""
    grid = jnp.linspace(-6.0, 6.0, 20_001)
    temperature, mean, log_std = 0.7, 0.3, -0.2
    eps = jax.random.normal(jax.random.PRNGKey(4), (200_000,))
    actions = mean + np.exp(log_std) * eps
    per_sample = np.asarray(
        distributions.gaussian_log_prob(mean, log_std, actions[:, None]) - soft.multimodal_q(actions) / temperature,
        np.float64,
    )
    log_z = float(jax.nn.logsumexp(soft.multimodal_q(grid) / temperature) + jnp.log(grid[1] - grid[0]))
    kl = float(soft.kl_gaussian_to_boltzmann(mean, log_std, soft.multimodal_q, temperature, grid))
    standard_error = per_sample.std() / np.sqrt(per_sample.size)
    assert abs(per_sample.mean() - (kl - log_z)) < 4 * standard_error + 1e-4


@pytest.mark.parametrize("temperature", [0.1, 1.0, 10.0])
def test_kl_gaussian_to_boltzmann_matches_the_closed_form_gaussian_kl(temperature):
    """q = log N(0.5, 0.8^2) has the Boltzmann N(0.5, 0.64 beta): KL between Gaussians is closed form."""
    q_fn = lambda a: jax.scipy.stats.norm.logpdf(a, 0.5, 0.8)
    grid = jnp.linspace(-30.0, 30.0, 6001)
    target_std = 0.8 * np.sqrt(temperature)
    for mean, std in [(0.0, 0.1), (1.0, 0.5), (-2.0, 2.0), (3.0, 5.0)]:
        exact = np.log(target_std / std) + (std**2 + (mean - 0.5) ** 2) / (2 * target_std**2) - 0.5
        kl = float(soft.kl_gaussian_to_boltzmann(mean, np.log(std), q_fn, temperature, grid))
        assert kl > -1e-3
        assert abs(kl - exact) < 1e-3, (mean, std, kl, exact)  # float32 sums: about 2e-4


def test_kl_of_a_gaussian_mostly_outside_the_plot_range_is_positive():
    """A wide Gaussian at beta = 10 puts most of its mass outside [-4, 4]; its KL is large, not negative."""
    kl = float(soft.kl_gaussian_to_boltzmann(0.0, np.log(6.0), soft.multimodal_q, 10.0, jnp.linspace(-30, 30, 6001)))
    assert abs(kl - 5.529) < 1e-2, kl


def test_sac_policy_uses_the_tanh_gaussian_density_on_the_action_bounds():
    """The common variant's log d(a|s) is the change-of-variables density on [-2, 2] and integrates to 1."""
    env = envs.make("Pendulum-v1")
    config = soft.SACConfig(policy_hidden=(8,), q_hidden=(8,), value_hidden=(8,))
    state = soft.sac_tanh_init(jax.random.PRNGKey(6), env, config)
    obs = jnp.array([0.6, -0.8, 1.5])
    key = jax.random.PRNGKey(7)

    @jax.jit
    def head_and_sample(policy):
        return soft._policy_head(config, policy, obs), soft._tanh_sample(env, config, policy, obs, key)

    (mean, log_std), (action, log_prob) = head_and_sample(state.policy)
    u = float(mean[0] + jnp.exp(log_std[0]) * jax.random.normal(key, (1,))[0])
    reference = scipy.stats.norm.logpdf(u, float(mean[0]), float(jnp.exp(log_std[0]))) - np.log(
        2.0 * (1 - np.tanh(u) ** 2)
    )
    np.testing.assert_allclose(float(action[0]), 2.0 * np.tanh(u), rtol=1e-5)
    np.testing.assert_allclose(float(log_prob), reference, rtol=1e-4, atol=1e-4)
    with enable_x64(True):
        actions = jnp.linspace(-2.0, 2.0, 100_001)[1:-1, None]
        density = jnp.exp(
            distributions.tanh_gaussian_log_prob(
                mean.astype(jnp.float64), log_std.astype(jnp.float64), actions, env.action_low, env.action_high
            )
        )
        np.testing.assert_allclose(jnp.trapezoid(density, actions[:, 0]), 1.0, atol=1e-4)


def fake_batch(env, size=32, seed=8):
    keys = jax.random.split(jax.random.PRNGKey(seed), 4)
    return Transition(
        jax.random.normal(keys[0], (size, env.observation_size)),
        jax.random.uniform(keys[1], (size, env.action_size), minval=-2.0, maxval=2.0),
        jax.random.normal(keys[2], (size,)),
        jax.random.normal(keys[3], (size, env.observation_size)),
        jnp.zeros(size, bool),
    )


EIGHT = dict(policy_hidden=(8,), q_hidden=(8,), value_hidden=(8,))
SMALL = dict(EIGHT, gamma=0.0, tau=0.1)  # one compiled update per variant serves several tests


@pytest.mark.parametrize("variant", ["box", "tanh"])
def test_with_zero_discount_the_critics_regress_on_the_reward_alone(variant):
    env = envs.make("Pendulum-v1")
    config = soft.SACConfig(**SMALL, target_entropy=5.0)
    init, update = (soft.sac_init, soft.sac_update) if variant == "box" else (soft.sac_tanh_init, soft.sac_tanh_update)
    state = init(jax.random.PRNGKey(9), env, config)
    batch = fake_batch(env)
    _, metrics = jax.jit(update, static_argnums=(0, 1))(env, config, state, batch, jax.random.PRNGKey(10))
    expected = jnp.sum(
        jnp.mean((nets.twin_q_apply(state.q, batch.observation, batch.action) - batch.reward) ** 2, axis=1)
    )
    np.testing.assert_allclose(metrics["q_loss"], expected, rtol=1e-5)


def linear_network(weights, shift=10.0):
    """A one-hidden-unit ReLU MLP computing weights . x exactly wherever weights . x + shift > 0."""
    first = {"w": jnp.asarray(weights, jnp.float32)[:, None], "b": jnp.array([shift])}
    return [first, {"w": jnp.ones((1, 1)), "b": jnp.array([-shift])}]


def hand_set_state(state):
    """Twins q^1 = s_0 + a, q^2 = 2 s_1 - a (targets alike) and, for the box, v(s) = s_0 - s_2."""
    twins = jax.tree_util.tree_map(
        lambda a, b: jnp.stack([a, b]), linear_network([1, 0, 0, 1]), linear_network([0, 2, 0, -1])
    )
    state = state._replace(q=twins)
    if hasattr(state, "value"):
        value = linear_network([1, 0, -1])
        return state._replace(value=value, value_target=value)
    return state._replace(q_target=twins)


EXACT = dict(
    policy_hidden=(8,),
    q_hidden=(1,),
    value_hidden=(1,),
    temperature=0.3,
    learn_temperature=False,
    q_learning_rate=1e-30,
)  # a critic step far below float32 resolution: the policy sees the hand-set twins


@pytest.mark.parametrize("variant", ["box", "tanh"])
def test_value_target_and_policy_loss_have_their_exact_values(variant):
    """Recomputed in NumPy from the policy's (mu, sigma), the update's own noise draws and scipy's normal
    log-density: the box's value loss mean (v(s) - [min_j q^j(s, a') - alpha log d(a'|s)])^2 and, in both
    variants, the policy loss mean(alpha log d(a|s) - q(s, a)) with q = q^1 (box) or min_j q^j (tanh)."""
    env = envs.make("Pendulum-v1")
    config = soft.SACConfig(**EXACT)
    init, update = (soft.sac_init, soft.sac_update) if variant == "box" else (soft.sac_tanh_init, soft.sac_tanh_update)
    state = hand_set_state(init(jax.random.PRNGKey(17), env, config))
    batch, key = fake_batch(env, size=16), jax.random.PRNGKey(18)
    _, metrics = jax.jit(update, static_argnums=(0, 1))(env, config, state, batch, key)
    s = np.asarray(batch.observation, np.float64)
    q1 = lambda a: s[:, 0] + a
    q2 = lambda a: 2.0 * s[:, 1] - a
    first_key, policy_key = jax.random.split(key)
    if variant == "box":
        head = soft.gaussian_policy(env, config, state.policy, batch.observation)
        mean, log_std = (np.asarray(x[:, 0], np.float64) for x in head)
        draw = lambda k: mean + np.exp(log_std) * np.asarray(jax.random.normal(k, (16, 1)))[:, 0]
        log_density = lambda a: scipy.stats.norm.logpdf(a, mean, np.exp(log_std))
        a_value = draw(first_key)
        y_v = np.minimum(q1(a_value), q2(a_value)) - 0.3 * log_density(a_value)
        np.testing.assert_allclose(metrics["value_loss"], np.mean((s[:, 0] - s[:, 2] - y_v) ** 2), rtol=1e-4)
        a = draw(policy_key)
        expected = np.mean(0.3 * log_density(a) - q1(a))
    else:
        head = soft._policy_head(config, state.policy, batch.observation)
        mean, log_std = (np.asarray(x[:, 0], np.float64) for x in head)
        u = mean + np.exp(log_std) * np.asarray(jax.random.normal(policy_key, (16, 1)))[:, 0]
        a = 2.0 * np.tanh(u)
        log_density = scipy.stats.norm.logpdf(u, mean, np.exp(log_std)) - np.log(2.0 * (1.0 - np.tanh(u) ** 2))
        expected = np.mean(0.3 * log_density - np.minimum(q1(a), q2(a)))
    np.testing.assert_allclose(metrics["policy_loss"], expected, rtol=1e-4, atol=1e-5)


def test_box_target_value_network_moves_by_tau():
    env = envs.make("Pendulum-v1")
    config = soft.SACConfig(**SMALL, target_entropy=5.0)
    state = soft.sac_init(jax.random.PRNGKey(11), env, config)
    state = state._replace(value_target=jax.tree_util.tree_map(jnp.zeros_like, state.value_target))
    new, _ = jax.jit(soft.sac_update, static_argnums=(0, 1))(
        env, config, state, fake_batch(env), jax.random.PRNGKey(12)
    )
    jax.tree_util.tree_map(
        lambda t, v: np.testing.assert_allclose(t, 0.1 * v, rtol=1e-5, atol=1e-7), new.value_target, new.value
    )


@pytest.mark.parametrize("target_entropy, learn, direction", [(5.0, True, 1), (-20.0, True, -1), (5.0, False, 0)])
def test_temperature_rises_below_the_target_entropy_falls_above_and_can_be_fixed(target_entropy, learn, direction):
    env = envs.make("Pendulum-v1")
    config = soft.SACConfig(**SMALL, target_entropy=target_entropy)
    state = soft.sac_tanh_init(jax.random.PRNGKey(13), env, config, learn_temperature=learn)
    new, _ = jax.jit(soft.sac_tanh_update, static_argnums=(0, 1))(
        env, config, state, fake_batch(env), jax.random.PRNGKey(14)
    )
    assert np.sign(float(new.log_temperature - state.log_temperature)) == direction


@pytest.mark.parametrize("make_agent", [soft.make_sac_agent, soft.make_sac_tanh_agent], ids=["box", "tanh"])
def test_both_agents_act_inside_the_action_bounds(make_agent):
    """Exploratory and greedy actions stay in [-2, 2], even for a policy pushed far outside (mean 50)."""
    env = envs.make("Pendulum-v1")
    agent = make_agent(env, soft.SACConfig(**EIGHT))
    state = agent.init(jax.random.PRNGKey(15))
    last = state.policy[-1]
    state = state._replace(policy=state.policy[:-1] + [{"w": last["w"], "b": last["b"] + jnp.array([50.0, 1.0])}])
    obs = jnp.array([1.0, 0.0, 0.0])

    @jax.jit
    def actions(state):
        explore = jax.vmap(lambda k: agent.act(state, obs, k)[0])(jax.random.split(jax.random.PRNGKey(16), 500))
        return explore, agent.greedy(state, obs)

    explore, greedy = actions(state)
    assert bool(jnp.all(jnp.abs(explore) <= 2.0)) and bool(jnp.all(jnp.abs(greedy) <= 2.0))
    assert float(jnp.max(explore)) > 1.9  # pushed to the upper bound, not stuck in the middle


@pytest.mark.parametrize("bad", [0.0, -0.5, float("nan"), float("inf")])
def test_temperature_must_be_positive(bad, mdp32):
    mdp = mdp32
    env = envs.make("Pendulum-v1")
    calls = [
        lambda: soft.soft_value_iteration(mdp, bad),
        lambda: soft.boltzmann_policy(mdp.rewards, bad),
        lambda: soft.soft_maximum(mdp.rewards, bad),
        lambda: soft.soft_fitted_q_iteration(mdp, jax.random.PRNGKey(0), bad),
        lambda: soft.soft_value_gap_bound(bad, 5, 0.9),
        lambda: soft.SACConfig(temperature=bad),
        lambda: soft.make_sac_agent(env, temperature=bad),
        lambda: soft.make_sac_tanh_agent(env, temperature=bad),
        lambda: soft.soft_value_iteration(mdp, jnp.array([1.0, bad])),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="temperature"):
            call()


@pytest.mark.parametrize(
    "field, value",
    [
        ("gamma", 1.0),
        ("tau", 0.0),
        ("q_learning_rate", 0.0),
        ("q_hidden", (64, 0)),
        ("policy_hidden", (64.0,)),
        ("value_hidden", ()),
        ("log_std_max", -6.0),
        ("log_std_min", float("nan")),
        ("target_entropy", float("inf")),
    ],
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        soft.SACConfig(**{field: value})


def test_sac_rejects_discrete_actions():
    with pytest.raises(ValueError, match="continuous"):
        soft.make_sac_tanh_agent(envs.make("CartPole-v1"))


def test_boltzmann_policy_and_soft_maximum_at_a_near_zero_temperature_are_the_hard_ones():
    """beta = 1e-40 (positive, so accepted): q / beta overflows float32, the stable form does not."""
    q = jnp.array([[1.0, 3.0, -2.0], [0.5, 0.5, 0.0]])
    policy = soft.boltzmann_policy(q, 1e-40)
    np.testing.assert_array_equal(policy, [[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(soft.soft_maximum(q, 1e-40), [3.0, 0.5], rtol=1e-6)


def test_box_q_targets_bootstrap_from_the_target_value_network():
    """y_q = r + gamma v(s'; psi-bar), with psi-bar set apart from psi (half its weights): the twins' loss is
    sum_j mean (q^j(s, a) - y_q)^2, recomputed here from psi-bar."""
    env = envs.make("Pendulum-v1")
    config = soft.SACConfig(**dict(SMALL, gamma=0.9), target_entropy=5.0)
    state = soft.sac_init(jax.random.PRNGKey(11), env, config)
    state = state._replace(value_target=jax.tree_util.tree_map(lambda x: 0.5 * x, state.value))
    batch = fake_batch(env)
    _, metrics = jax.jit(soft.sac_update, static_argnums=(0, 1))(env, config, state, batch, jax.random.PRNGKey(12))
    target_value = nets.mlp_apply(state.value_target, batch.next_observation)[:, 0]
    online_value = nets.mlp_apply(state.value, batch.next_observation)[:, 0]
    assert np.max(np.abs(target_value - online_value)) > 1e-2  # the two networks disagree on these s'
    y_q = batch.reward + 0.9 * target_value
    expected = jnp.sum(jnp.mean((nets.twin_q_apply(state.q, batch.observation, batch.action) - y_q) ** 2, axis=1))
    np.testing.assert_allclose(metrics["q_loss"], expected, rtol=1e-5)
