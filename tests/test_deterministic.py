"""Chapter 21: OU noise against its exact stationary variance, TD3's target on known inputs, the
update schedules of DDPG and TD3, NFQCA against the Riccati gain, and config validation."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.algorithms import deterministic as det
from lib.problems import envs
from lib.algorithms import fqi
from lib.parts import nets
from lib.problems.lqr import double_integrator, linear_policy, lqr_base_points, optimal_q, quadratic_q, solve_riccati
from lib.parts.replay import Transition

PENDULUM = envs.make("Pendulum-v1")
SMALL = dict(policy_hidden=(8,), q_hidden=(8,))
TD3_CONFIG = det.TD3Config(policy_delay=3, tau=0.25, **SMALL)
DDPG_CONFIG = det.DDPGConfig(gamma=0.9, tau=1.0, target_period=3, ou_sigma=0.5, **SMALL)
td3_update = jax.jit(det.td3_update, static_argnums=(0, 1))
ddpg_update = jax.jit(det.ddpg_update, static_argnums=(0, 1))


def init(agent):
    return jax.jit(agent.init)(jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def td3_state():
    return init(det.make_td3_agent(PENDULUM, TD3_CONFIG))


@pytest.fixture(scope="module")
def ddpg_state():
    return init(det.make_ddpg_agent(PENDULUM, DDPG_CONFIG))


@functools.partial(jax.jit, static_argnums=1)
def pendulum_batch(key, size=32):
    keys = jax.random.split(key, 3)
    obs = jax.vmap(PENDULUM.reset)(jax.random.split(keys[0], size))[1]
    action = jax.random.uniform(keys[1], (size, 1), minval=-2.0, maxval=2.0)
    next_obs = jax.vmap(PENDULUM.reset)(jax.random.split(keys[2], size))[1]
    return Transition(obs, action, -jnp.arange(size, dtype=jnp.float32) / size, next_obs, jnp.arange(size) % 4 == 0)


def tree_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


# ---------------------------------------------------------------- Ornstein-Uhlenbeck
def test_ou_step_is_one_euler_maruyama_step():
    key, noise = jax.random.PRNGKey(3), jnp.array([0.5, -1.0])
    eps = jax.random.normal(key, (2,))
    expected = noise + 0.7 * (0.0 - noise) * 0.1 + 0.4 * np.sqrt(0.1) * eps
    np.testing.assert_allclose(det.ou_step(noise, key, 0.7, 0.4, 0.1), expected, rtol=1e-6)


def test_ou_paths_chain_ou_step():
    """ou_paths is ou_step applied step by step (one split key per step), so its checks test DDPG's noise."""
    key = jax.random.PRNGKey(5)
    paths = det.ou_paths(key, 0.7, 0.4, 0.1, num_steps=4, num_paths=3, initial=0.5)
    noise = jnp.full(3, 0.5)
    for t, step_key in enumerate(jax.random.split(key, 4)):
        noise = det.ou_step(noise, step_key, 0.7, 0.4, 0.1)
        np.testing.assert_allclose(paths[:, t + 1], noise, rtol=1e-6)
    assert np.all(paths[:, 0] == 0.5)


def test_ou_stationary_variance_within_three_standard_errors():
    """4000 independent paths run 300 steps from 0 (rho^600 < 1e-27): their final values are
    N(0, v) with v = sigma^2 / (theta (2 - theta dt)); the sample variance has standard error
    v sqrt(2 / (n - 1))."""
    theta, sigma, dt, n = 1.0, 0.5, 0.1, 4000
    paths = det.ou_paths(jax.random.PRNGKey(0), theta, sigma, dt, num_steps=300, num_paths=n)
    assert paths.shape == (n, 301) and np.all(paths[:, 0] == 0)
    exact = det.ou_stationary_variance(theta, sigma, dt)
    standard_error = exact * np.sqrt(2.0 / (n - 1))
    assert abs(np.var(paths[:, -1], ddof=1) - exact) < 3 * standard_error
    assert abs(np.mean(paths[:, -1])) < 3 * np.sqrt(exact / n)


def test_ou_discrete_variance_tends_to_sigma_squared_over_two_theta():
    assert det.ou_stationary_variance(2.0, 0.6) == pytest.approx(0.09)
    assert det.ou_stationary_variance(2.0, 0.6, dt=1e-6) == pytest.approx(0.09, rel=1e-5)
    assert det.ou_stationary_variance(2.0, 0.6, dt=0.1) == pytest.approx(0.36 / (2.0 * 1.8))


# ---------------------------------------------------------------- TD3's target
def test_td3_target_uses_min_of_twin_critics_and_clipped_noise():
    """d(s') = 0.8 s'_0; q^A = a + s'_0, q^B = 2 - a; noise clipped to c = 0.5, action box [-1, 1]."""
    batch = Transition(
        observation=jnp.zeros((4, 1)),
        action=jnp.zeros((4, 1)),
        reward=jnp.array([1.0, 2.0, 3.0, 4.0]),
        next_observation=jnp.array([[0.0], [0.0], [1.0], [0.5]]),
        terminated=jnp.array([False, False, False, True]),
    )
    noise = jnp.array([[0.9], [-0.1], [0.4], [-3.0]])
    policy = lambda s: 0.8 * s
    critics = lambda s, a: jnp.stack([a[:, 0] + s[:, 0], 2.0 - a[:, 0]])
    y = det.td3_target(batch, noise, policy, critics, gamma=0.5, noise_clip=0.5, action_low=-1.0, action_high=1.0)
    # smoothed actions: 0 + 0.5 (clipped), 0 - 0.1, min(0.8 + 0.4, 1) = 1 (box), unused (terminal)
    # (q^A, q^B): (0.5, 1.5), (-0.1, 2.1), (2.0, 1.0)
    np.testing.assert_allclose(y, [1.0 + 0.5 * 0.5, 2.0 + 0.5 * -0.1, 3.0 + 0.5 * 1.0, 4.0], rtol=1e-6)


def test_td3_target_without_noise_is_the_clipped_double_q_target(batch, td3_state):
    state = td3_state
    policy = lambda s: det.policy_action(PENDULUM, state.policy, s)
    target = jax.jit(
        lambda batch, noise: det.td3_target(
            batch, noise, policy, lambda s, a: nets.twin_q_apply(state.q_target, s, a), 0.9, 0.5, -2.0, 2.0
        )
    )
    y = target(batch, jnp.zeros_like(batch.action))
    q_a, q_b = jax.jit(nets.twin_q_apply)(state.q, batch.next_observation, policy(batch.next_observation))
    expected = batch.reward + 0.9 * (1.0 - batch.terminated) * np.minimum(q_a, q_b)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- update schedules


@pytest.fixture(scope="module")
def batch():
    return pendulum_batch(jax.random.PRNGKey(1))


def test_td3_updates_policy_and_targets_only_every_d_steps_at_rate_tau(batch, td3_state):
    state = td3_state
    for n in range(6):
        new, _ = td3_update(PENDULUM, TD3_CONFIG, state, batch, jax.random.PRNGKey(10 + n))
        assert not tree_equal(new.q, state.q)  # the critics learn at every step
        moved = n % 3 == 0
        assert tree_equal(new.policy, state.policy) != moved, n
        assert tree_equal(new.policy_target, state.policy_target) != moved, n
        assert tree_equal(new.q_target, state.q_target) != moved, n
        if moved:  # target <- tau online + (1 - tau) target
            for name in ("q", "policy"):
                for target, old, online in zip(
                    *(
                        jax.tree_util.tree_leaves(getattr(t, name + suffix))
                        for t, suffix in ((new, "_target"), (state, "_target"), (new, ""))
                    )
                ):
                    np.testing.assert_allclose(target, 0.25 * online + 0.75 * old, rtol=1e-5, atol=1e-7)
        state = new
    assert int(state.step) == 6


def test_ddpg_critic_loss_is_the_mean_squared_bellman_error_of_the_box(batch, ddpg_state):
    state = ddpg_state
    next_q = nets.q_apply(
        state.q_target, batch.next_observation, det.policy_action(PENDULUM, state.policy_target, batch.next_observation)
    )
    y = batch.reward + 0.9 * (1.0 - batch.terminated) * next_q
    expected = np.mean((y - nets.q_apply(state.q, batch.observation, batch.action)) ** 2)
    _, metrics = ddpg_update(PENDULUM, DDPG_CONFIG, state, batch)
    np.testing.assert_allclose(metrics["q_loss"], expected, rtol=1e-5)


def linear_td3_state():
    """TD3 state with one hidden unit per network, set by hand: d(s; w) = 2 tanh(relu(w . s)),
    q^A(s, a) = s_0 + a, q^B(s, a) = 2 s_1 - a, targets the same; Adam states from the agent."""
    agent = det.make_td3_agent(PENDULUM, det.TD3Config(policy_hidden=(1,), q_hidden=(1,), policy_delay=1))
    state = agent.init(jax.random.PRNGKey(0))
    policy = [{"w": jnp.array([[0.5], [0.0], [0.1]]), "b": jnp.zeros(1)}, {"w": jnp.ones((1, 1)), "b": jnp.zeros(1)}]
    # q^j = relu(hidden + shift) - shift: the relu of a positive input is the identity, so the twins are linear
    shift = 10.0
    out = {"w": jnp.ones((1, 1)), "b": jnp.array([-shift])}
    q_a = [{"w": jnp.array([[1.0], [0.0], [0.0], [1.0]]), "b": jnp.array([shift])}, out]
    q_b = [{"w": jnp.array([[0.0], [2.0], [0.0], [-1.0]]), "b": jnp.array([shift])}, out]
    q = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), q_a, q_b)
    return state._replace(policy=policy, q=q, policy_target=policy, q_target=q)


LINEAR_TD3_CONFIG = det.TD3Config(policy_hidden=(1,), q_hidden=(1,), policy_delay=1, gamma=0.5, target_noise=0.0)


def linear_td3_batch():
    """Three transitions for the exact tests of the linear TD3 state: (s, a, r, s') in NumPy, and as a Transition."""
    s = np.array([[0.6, 0.8, 1.0], [-1.0, 0.0, -2.0], [0.0, 1.0, 3.0]], np.float32)
    a = np.array([[0.5], [-1.5], [2.0]], np.float32)
    r = np.array([-1.0, -2.0, 0.5], np.float32)
    s_next = np.array([[1.0, 0.0, 0.5], [0.3, -0.4, 0.0], [0.0, -1.0, 1.0]], np.float32)
    batch = Transition(jnp.asarray(s), jnp.asarray(a), jnp.asarray(r), jnp.asarray(s_next), jnp.zeros(3, bool))
    return s, a, r, s_next, batch


def test_td3_critic_loss_and_policy_objective_have_their_exact_values():
    """With linear twins q^A = s_0 + a, q^B = 2 s_1 - a, reward r, gamma = 0.5 and zero target noise:
    y = r + 0.5 min(q^A, q^B)(s', d(s')); the critic loss is sum_j mean (y - q^j(s, a))^2 and the policy
    objective mean q^A(s, d(s)), each computed here by hand in NumPy."""
    state = linear_td3_state()
    config = LINEAR_TD3_CONFIG
    s, a, r, s_next, batch = linear_td3_batch()
    d = lambda obs: 2.0 * np.tanh(np.maximum(obs @ np.array([0.5, 0.0, 0.1]), 0.0))
    q_a = lambda obs, act: obs[:, 0] + act
    q_b = lambda obs, act: 2.0 * obs[:, 1] - act
    y = r + 0.5 * np.minimum(q_a(s_next, d(s_next)), q_b(s_next, d(s_next)))
    expected_loss = np.mean((y - q_a(s, a[:, 0])) ** 2) + np.mean((y - q_b(s, a[:, 0])) ** 2)
    _, metrics = jax.jit(det.td3_update, static_argnums=(0, 1))(PENDULUM, config, state, batch, jax.random.PRNGKey(0))
    np.testing.assert_allclose(metrics["q_loss"], expected_loss, rtol=1e-5)
    np.testing.assert_allclose(metrics["q_mean"], np.mean(q_a(s, a[:, 0])), rtol=1e-5)
    objective = det.td3_policy_loss(PENDULUM, state.q, state.policy, batch.observation)
    np.testing.assert_allclose(objective, -np.mean(q_a(s, d(s))), rtol=1e-5)


def test_ddpg_with_tau_one_copies_targets_every_K_updates(batch, ddpg_state):
    state = ddpg_state
    for n in range(6):
        state, _ = ddpg_update(PENDULUM, DDPG_CONFIG, state, batch)
        copied = n % 3 == 0
        assert tree_equal(state.q_target, state.q) == copied, n
        assert tree_equal(state.policy_target, state.policy) == copied, n


def test_ddpg_act_adds_scaled_ou_noise_and_advances_it(ddpg_state):
    agent = det.make_ddpg_agent(PENDULUM, DDPG_CONFIG)
    state = ddpg_state._replace(noise=jnp.array([0.3]))
    obs, key = jnp.array([1.0, 0.0, 0.5]), jax.random.PRNGKey(4)
    action, new = jax.jit(agent.act)(state, obs, key)
    noise = det.ou_step(jnp.array([0.3]), key, DDPG_CONFIG.ou_theta, DDPG_CONFIG.ou_sigma, DDPG_CONFIG.ou_dt)
    np.testing.assert_allclose(new.noise, noise, rtol=1e-6)
    expected = np.clip(det.policy_action(PENDULUM, state.policy, obs) + 2.0 * noise, -2.0, 2.0)
    np.testing.assert_allclose(action, expected, rtol=1e-6)
    assert np.all(np.abs(agent.greedy(state, 10 * jnp.ones((5, 3)))) <= 2.0)


# ---------------------------------------------------------------- NFQCA on the LQR
def test_nfqca_recovers_the_riccati_gain_and_q_function():
    """Quadratic critic features represent q* exactly, so NFQCA's gain must reach K within 0.1 %
    (relative, Frobenius) and its critic q* within 0.1 % of q*'s scale on the batch."""
    lqr = double_integrator()
    solution = solve_riccati(lqr)
    state, log = jax.jit(det.make_nfqca_train(lqr, det.NFQCAConfig()))(jax.random.PRNGKey(0))
    gains = -log.policy_history
    assert int(log.diverged_at) == -1
    error = np.linalg.norm(gains[-1] - solution.K) / np.linalg.norm(solution.K)
    assert error < 1e-3, error
    assert np.linalg.norm(gains[0] - solution.K) / np.linalg.norm(solution.K) > 0.5  # it did have to learn
    batch = lqr_base_points(lqr, jax.random.PRNGKey(5), 256)  # fresh points, same shape as the training batch
    exact = jax.vmap(lambda x, u: optimal_q(lqr, solution, x, u))(batch.observation, batch.action)
    learned = quadratic_q(state.q_params, batch.observation, batch.action)
    assert np.max(np.abs(learned - exact)) < 1e-3 * np.max(np.abs(exact))


# ---------------------------------------------------------------- the overestimation experiment
def test_snapshots_keep_parameters_after_every_k_updates():
    from lib.loops.offpolicy import OffPolicyAgent

    from typing import NamedTuple

    class State(NamedTuple):
        policy: jax.Array
        q: jax.Array

    inner = OffPolicyAgent(
        init=lambda key: State(jnp.array(0.0), jnp.array(0.0)),
        act=lambda s, o, k: (jnp.zeros(1), s),
        greedy=lambda s, o: jnp.zeros(1),
        update=lambda s, b, k: (State(s.policy + 1, s.q + 2), jnp.array(0.0)),
    )
    agent = det.with_snapshots(inner, every=3, count=4)
    state = agent.init(jax.random.PRNGKey(0))
    update = jax.jit(agent.update)
    for _ in range(20):
        state, _ = update(state, None, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(state.policy, [3, 6, 9, 12])
    np.testing.assert_array_equal(state.q, [6, 12, 18, 24])
    assert float(state.agent.policy) == 20


def test_value_estimates_use_the_same_start_states_for_q_and_monte_carlo(td3_state):
    """With gamma = 0 the Monte Carlo return is the first reward, so a critic equal to the reward
    function r(s, a) must match it exactly: same start states, same policy."""
    policy = td3_state.policy

    def reward_critic(_, obs, action):
        theta, theta_dot = jnp.arctan2(obs[..., 1], obs[..., 0]), obs[..., 2]
        return -(theta**2 + 0.1 * theta_dot**2 + 0.001 * action[..., 0] ** 2)

    q, mc = det.value_estimates(
        PENDULUM, policy, None, reward_critic, jax.random.PRNGKey(1), 0.0, num_states=8, horizon=5
    )
    np.testing.assert_allclose(q, mc, rtol=1e-5)


def test_without_time_limit_truncates_at_the_new_horizon():
    env = det.without_time_limit(PENDULUM, 350)
    state, _ = env.reset(jax.random.PRNGKey(0))
    step = jax.jit(env.step)
    truncations = []
    for t in range(351):
        state, _, _, _, truncated = step(state, jnp.zeros(1))
        truncations.append(bool(truncated))
    assert truncations.index(True) == 349


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "field, value",
    [
        ("gamma", 1.0),
        ("tau", 0.0),
        ("tau", 1.5),
        ("target_period", 0),
        ("ou_theta", 0.0),
        ("ou_sigma", -0.1),
        ("ou_dt", 0.0),
        ("policy_learning_rate", 0.0),
        ("policy_hidden", ()),
        ("q_hidden", (64, 0)),
        ("q_hidden", (64.0,)),
        ("policy_hidden", 64),
    ],
)
def test_ddpg_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        det.DDPGConfig(**{field: value})


def test_ddpg_config_rejects_unstable_euler_maruyama_step():
    with pytest.raises(ValueError, match="ou_theta \\* ou_dt"):
        det.DDPGConfig(ou_theta=10.0, ou_dt=0.5)


@pytest.mark.parametrize(
    "field, value",
    [
        ("policy_delay", 0),
        ("target_noise", -0.2),
        ("noise_clip", -0.5),
        ("explore_noise", -1.0),
        ("q_learning_rate", -1e-3),
        ("gamma", -0.1),
    ],
)
def test_td3_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        det.TD3Config(**{field: value})


@pytest.mark.parametrize(
    "field, value", [("num_iterations", 0), ("num_fit_steps", 2.5), ("gamma", 1.0), ("q_learning_rate", 0.0)]
)
def test_nfqca_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        det.NFQCAConfig(**{field: value})


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(theta=-1.0), "theta"), (dict(sigma=-0.5), "sigma"), (dict(dt=0.0), "dt"), (dict(num_steps=0), "num_steps")],
)
def test_ou_paths_rejects_bad_values(kwargs, name):
    arguments = dict(theta=1.0, sigma=0.5, dt=0.1, num_steps=10) | kwargs
    with pytest.raises(ValueError, match=name):
        det.ou_paths(jax.random.PRNGKey(0), **arguments)


def test_agents_reject_discrete_environments():
    with pytest.raises(ValueError, match="env"):
        det.make_td3_agent(envs.make("CartPole-v1"))
    with pytest.raises(ValueError, match="env"):
        det.make_ddpg_agent(envs.make("CartPole-v1"))


def test_configs_accept_a_list_of_widths_as_sac_does():
    config = det.TD3Config(policy_hidden=[16, 8], q_hidden=[4])
    assert config.policy_hidden == (16, 8) and config.q_hidden == (4,)
    state = det.make_td3_agent(PENDULUM, config).init(jax.random.PRNGKey(0))
    assert [layer["w"].shape for layer in state.policy] == [(3, 16), (16, 8), (8, 1)]
    assert det.DDPGConfig(policy_hidden=[8]) == det.DDPGConfig(policy_hidden=(8,))


# ---------------------------------------------------------------- which network each step reads
def test_nfqca_policy_step_reaches_the_greedy_gain_of_the_critic_just_fitted():
    """Iteration 2's critic theta_2 couples u and x (theta_1 fits little more than the reward), so its greedy
    gain -H_uu^-1 H_ux differs from theta_1's; w_2, after 1000 policy steps, must be theta_2's."""
    lqr = double_integrator()
    batch = lqr_base_points(lqr, jax.random.PRNGKey(0), 64)
    config = det.NFQCAConfig(num_iterations=2, num_policy_steps=1000)
    run = jax.jit(det.nfqca, static_argnums=(1, 2, 5))
    result = run(batch, quadratic_q, linear_policy, jnp.zeros(7), jnp.zeros((1, 2)), config)
    greedy = -fqi.greedy_gain(fqi.QuadraticFeatures(2, 1), result.q_params)
    np.testing.assert_allclose(result.policy_history[-1], greedy, atol=1e-4)
    assert np.max(np.abs(result.policy_history[0] - greedy)) > 0.5  # theta_1's greedy gain is far from it


def _moved_targets(state):
    """The state with its target networks set apart from the online ones (0.5 times their weights)."""
    half = lambda tree: jax.tree_util.tree_map(lambda x: 0.5 * x, tree)  # noqa: E731
    return state._replace(q_target=half(state.q), policy_target=half(state.policy))


def test_ddpg_target_reads_the_target_networks_and_the_policy_step_the_critic_just_updated(batch, ddpg_state):
    state = _moved_targets(ddpg_state)
    next_actions = det.policy_action(PENDULUM, state.policy_target, batch.next_observation)
    y = batch.reward + 0.9 * (1.0 - batch.terminated) * nets.q_apply(
        state.q_target, batch.next_observation, next_actions
    )
    expected_loss = np.mean((y - nets.q_apply(state.q, batch.observation, batch.action)) ** 2)
    new, metrics = ddpg_update(PENDULUM, DDPG_CONFIG, state, batch)
    np.testing.assert_allclose(metrics["q_loss"], expected_loss, rtol=1e-5)
    # step 8's objective mean q(s, d(s; w_n); theta_{n+1}), with the critic after step 7
    on_new_critic = nets.q_apply(new.q, batch.observation, det.policy_action(PENDULUM, state.policy, batch.observation))
    np.testing.assert_allclose(metrics["q_mean"], np.mean(on_new_critic), rtol=1e-5)
    on_old_critic = nets.q_apply(
        state.q, batch.observation, det.policy_action(PENDULUM, state.policy, batch.observation)
    )
    assert abs(np.mean(on_new_critic) - np.mean(on_old_critic)) > 1e-3  # step 7 moved the critic


def test_td3_policy_step_follows_q_a_just_fitted(batch, td3_state):
    """After update 0 (0 mod d = 0) Adam's first moment is exactly 0.1 times the gradient it was given: that of
    -mean q^A(s, d(s; w)) with the critics after step 7, not their minimum, not q^B, not q^A before step 7."""
    new, _ = td3_update(PENDULUM, TD3_CONFIG, td3_state, batch, jax.random.PRNGKey(10))
    first_moment = nets.adam_first_moment(new.policy_opt_state)

    def gradient(critic, pick):
        def loss(w):
            actions = det.policy_action(PENDULUM, w, batch.observation)
            return -jnp.mean(pick(nets.twin_q_apply(critic, batch.observation, actions)))

        return jax.grad(loss)(td3_state.policy)

    def distance(tree):
        pairs = zip(jax.tree_util.tree_leaves(first_moment), jax.tree_util.tree_leaves(tree))
        return max(float(np.max(np.abs(m - 0.1 * g))) for m, g in pairs)

    scale = max(float(np.max(np.abs(m))) for m in jax.tree_util.tree_leaves(first_moment))
    assert distance(gradient(new.q, lambda q: q[0])) < 1e-5 * scale
    for critic, pick in ((new.q, lambda q: jnp.min(q, axis=0)), (new.q, lambda q: q[1]), (td3_state.q, lambda q: q[0])):
        assert distance(gradient(critic, pick)) > 1e-3 * scale


def test_td3_target_action_comes_from_the_target_policy():
    """As in the exact test above, with the online policy's weight on s_0 raised from 0.5 to 1.5: the targets
    still use the target policy d(s) = 2 tanh(relu(0.5 s_0 + 0.1 s_2))."""
    state = linear_td3_state()
    online = [{"w": jnp.array([[1.5], [0.0], [0.1]]), "b": jnp.zeros(1)}, state.policy[1]]
    state = state._replace(policy=online)
    config = LINEAR_TD3_CONFIG
    s, a, r, s_next, batch = linear_td3_batch()
    d_target = lambda obs: 2.0 * np.tanh(np.maximum(obs @ np.array([0.5, 0.0, 0.1]), 0.0))  # noqa: E731
    d_online = lambda obs: 2.0 * np.tanh(np.maximum(obs @ np.array([1.5, 0.0, 0.1]), 0.0))  # noqa: E731
    q_a = lambda obs, act: obs[:, 0] + act  # noqa: E731
    q_b = lambda obs, act: 2.0 * obs[:, 1] - act  # noqa: E731

    def loss(d):
        y = r + 0.5 * np.minimum(q_a(s_next, d(s_next)), q_b(s_next, d(s_next)))
        return np.mean((y - q_a(s, a[:, 0])) ** 2) + np.mean((y - q_b(s, a[:, 0])) ** 2)

    _, metrics = jax.jit(det.td3_update, static_argnums=(0, 1))(PENDULUM, config, state, batch, jax.random.PRNGKey(0))
    np.testing.assert_allclose(metrics["q_loss"], loss(d_target), rtol=1e-5)
    assert abs(loss(d_online) - loss(d_target)) > 1e-2  # the two policies give different targets here
