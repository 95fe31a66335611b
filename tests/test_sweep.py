"""lib.core.sweep: a grid of settings x seeds over every device, with results that do not depend on the layout."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lib
from lib.core.sweep import plan, seed_keys, sweep

ROOT = pathlib.Path(__file__).resolve().parent.parent


class Log(NamedTuple):
    losses: jax.Array
    diverged_at: jax.Array


def descent(key, rate):
    """A small trainer: 20 noisy gradient steps on |w|^2 from a random start, at step size `rate`."""

    def step(w, key):
        w = w - rate * (2 * w + 0.1 * jax.random.normal(key, w.shape))
        return w, jnp.sum(w**2)

    key_init, key_steps = jax.random.split(key)
    w, losses = jax.lax.scan(step, jax.random.normal(key_init, (3,)), jax.random.split(key_steps, 20))
    diverged_at = jnp.where(jnp.all(jnp.isfinite(losses)), -1, jnp.argmax(~jnp.isfinite(losses)))
    return w, Log(losses, diverged_at.astype(jnp.int32))


RATES = [jnp.float32(0.1), jnp.float32(0.3), jnp.float32(0.05)]


def test_grid_order_and_keys_each_run_equals_the_trainer_alone():
    state, log = sweep(descent, num_seeds=3, settings=RATES, seed=7)
    assert state.shape == (3, 3, 3) and log.losses.shape == (3, 3, 20)
    alone = jax.jit(descent)
    for i, rate in enumerate(RATES):
        for j, key in enumerate(seed_keys(7, 3)):
            w, expected = alone(key, rate)
            assert np.array_equal(state[i, j], w) and np.array_equal(log.losses[i, j], expected.losses)


def test_settings_share_seeds_and_seeds_differ():
    """Run (i, j) gets seed j's key whatever i: common random numbers across settings."""
    state, _ = sweep(descent, num_seeds=2, settings=[jnp.float32(0.0), jnp.float32(0.0)])
    assert np.array_equal(state[0], state[1]) and not np.array_equal(state[0, 0], state[0, 1])


def test_no_settings_gives_a_seed_axis_and_a_dict_gives_one_result_per_trainer():
    single = lambda key: descent(key, 0.1)  # noqa: E731
    state, log = sweep(single, num_seeds=5)
    assert state.shape == (5, 3) and log.losses.shape == (5, 20)
    both = sweep({"slow": single, "grid": descent}, num_seeds=5, settings={"grid": RATES[:2]})
    assert np.array_equal(both["slow"][0], state) and both["grid"][0].shape == (2, 5, 3)
    assert np.array_equal(both["grid"][0][0], state)  # rate 0.1, the same keys


def test_runs_per_device_vmaps_and_keeps_the_results_up_to_rounding():
    exact, _ = sweep(descent, num_seeds=5, settings=RATES)
    batched, _ = sweep(descent, num_seeds=5, settings=RATES, runs_per_device=4)  # 15 runs padded to 16 or 32
    np.testing.assert_allclose(batched, exact, rtol=1e-5, atol=1e-6)


def test_divergence_names_the_setting_the_seed_and_the_step():
    with pytest.raises(RuntimeError, match=r"training diverged.*\(setting 1, seed 0 at step 0; setting 1, seed 1 at"):
        sweep(descent, num_seeds=2, settings=[jnp.float32(0.1), jnp.float32(1e30)])
    with pytest.raises(RuntimeError, match=r"unstable diverged.*\(seed 0 at step 0; seed 1 at step 0\)"):
        sweep({"unstable": lambda key: descent(key, 1e30)}, num_seeds=2)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: sweep(descent, num_seeds=0), "num_seeds"),
        (lambda: sweep(descent, num_seeds=2, runs_per_device=0), "runs_per_device"),
        (lambda: sweep(descent, num_seeds=2, settings=[]), "at least one setting"),
        (lambda: sweep(descent, num_seeds=2, settings=[jnp.float32(0.1), jnp.ones(2)]), "same structure and shapes"),
        (lambda: sweep({"a": descent}, num_seeds=2, settings={"b": RATES}), "not swept"),
        (lambda: sweep("descent", num_seeds=2), "must be a function"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _python(code, devices=None, prefix=()):
    env = {k: v for k, v in os.environ.items() if k != "JAX_NUM_CPU_DEVICES"}
    if devices is not None:
        env["JAX_NUM_CPU_DEVICES"] = str(devices)
    done = subprocess.run(
        [*prefix, sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


TD3_RUNS = """
    import hashlib, jax, numpy as np
    from lib.problems import envs
    from lib.algorithms import deterministic as det
    from lib.loops.offpolicy import OffPolicyConfig, make_off_policy_train
    from lib.core.sweep import sweep, seed_keys
    env = envs.make("Pendulum-v1")
    loop = OffPolicyConfig(total_steps=400, warmup_steps=100, batch_size=16, buffer_capacity=400, eval_every=200,
                           eval_episodes=1)
    train = make_off_policy_train(env, det.make_td3_agent(env, det.TD3Config(policy_hidden=(8,), q_hidden=(8,))), loop)
    digest = lambda tree: hashlib.sha256(b"".join(np.asarray(x).tobytes() for x in jax.tree_util.tree_leaves(tree))).hexdigest()
    state, log = sweep(train, num_seeds=3)
    alone = [jax.jit(train)(key) for key in seed_keys(0, 3)]
    print(jax.device_count(), digest((state, log)),
          all(digest(jax.tree_util.tree_map(lambda x: x[j], (state, log))) == digest(alone[j]) for j in range(3)))
"""


def test_a_training_run_is_bitwise_the_same_on_1_2_and_4_devices_and_alone():
    outputs = [_python(TD3_RUNS, devices=n).split() for n in (1, 2, 4)]
    assert [int(o[0]) for o in outputs] == [1, 2, 4]
    assert len({o[1] for o in outputs}) == 1  # the same bytes whatever the layout
    assert all(o[2] == "True" for o in outputs)  # each run equals the trainer alone


def test_importing_lib_gives_jax_one_cpu_device_per_usable_core():
    cores = len(os.sched_getaffinity(0))
    assert _python("import lib, jax; print(jax.device_count())").strip() == str(cores)
    assert _python("import lib, jax; print(jax.device_count())", prefix=("taskset", "-c", "0")).strip() == "1"
    assert _python("import lib, jax; print(jax.device_count())", devices=3).strip() == "3"  # the user's choice wins


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to tell one device from several")
def test_jax_started_before_lib_says_so_in_one_line_and_runs_on_one_device():
    out = _python("import jax; jax.numpy.zeros(1); import lib; print(jax.device_count())")
    message, count = out.strip().splitlines()
    assert count == "1" and "had already started with 1 CPU device" in message


def test_the_compilation_cache_is_a_per_user_folder_outside_the_repository():
    assert jax.config.jax_compilation_cache_dir == lib.CACHE_FOLDER
    assert not pathlib.Path(lib.CACHE_FOLDER).resolve().is_relative_to(ROOT)


WORKER = """
    import json, sys
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")   # CPU processes talk through gloo
    if len(sys.argv) > 1:
        jax.distributed.initialize(coordinator_address=f"127.0.0.1:{sys.argv[3]}", num_processes=int(sys.argv[2]),
                                   process_id=int(sys.argv[1]))
    import numpy as np
    sys.path.insert(0, "tests")
    from test_sweep import descent, RATES
    from lib.core.sweep import sweep
    state, log = sweep(descent, num_seeds=3, settings=RATES)
    print(json.dumps([jax.process_count(), jax.device_count(), np.asarray(state).tobytes().hex(),
                      np.asarray(log.losses).tobytes().hex()]))
"""


def test_two_processes_on_loopback_get_the_results_of_one_process():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "1"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WORKER), str(i), "2", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs[0][1][-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    one_process = json.loads(_python(WORKER, devices=1).strip().splitlines()[-1])
    assert [r[:2] for r in results] == [[2, 2], [2, 2]] and one_process[:2] == [1, 1]
    assert results[0][2:] == results[1][2:] == one_process[2:]


def test_a_trainer_swept_again_reuses_its_compiled_program():
    single = lambda key: descent(key, 0.1)  # noqa: E731
    first = sweep(single, num_seeds=3, seed=1)
    again = sweep(single, num_seeds=3, seed=2)
    program = plan(single, 3).program
    assert program._cache_size() == 1  # one compilation served both sweeps
    assert not np.array_equal(first[0], again[0])


def test_a_plan_run_and_finished_is_the_sweep():
    planned = plan(lambda key, rate: descent(key, rate), 3, settings=[0.1, 0.2], seed=4, name="descent")
    state, log = planned.finish(planned.program.lower(*planned.inputs).compile()(*planned.inputs))
    swept = sweep(lambda key, rate: descent(key, rate), 3, settings=[0.1, 0.2], seed=4)
    assert state.shape[:2] == (2, 3)
    np.testing.assert_array_equal(state, swept[0])
