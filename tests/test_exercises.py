"""lib.exercises.grade: all the points for a right answer, none for a wrong one, a crash or a lib shortcut.

(The chapters' own cases, and that a wrong answer loses its exercise's points in a real nbgrader round
trip, are tested in tests/test_assignments.py and tests/test_nbgrader.py.)
"""
import jax.numpy as jnp

from lib import exercises, mdp

CASES = [(([1.0, 2.0],), 3.0), (([0.5, -0.5, 4.0],), 4.0)]
log = mdp.random_mdp    # a chapter global named like an attribute the answer reads (jnp.log)


def total(values):
    return jnp.sum(jnp.exp(jnp.log(jnp.abs(values))) * jnp.sign(values))


def test_a_right_answer_earns_every_point_and_says_so(capsys):
    assert exercises.grade("1.1", total, CASES, points=2) == 2.0
    assert "Exercise 1.1 passed: 2 cases, 2 of 2 points" in capsys.readouterr().out


def test_a_wrong_answer_earns_nothing_and_shows_the_case(capsys):
    assert exercises.grade("1.1", lambda values: jnp.max(values), CASES, points=2) == 0.0
    assert "gave 2.0, expected 3.0" in capsys.readouterr().out


def test_a_stub_or_a_wrong_shape_earns_nothing_without_raising(capsys):
    def stub(values):
        raise NotImplementedError()

    assert exercises.grade("1.1", stub, CASES, points=2) == 0.0
    assert "raised NotImplementedError" in capsys.readouterr().out
    assert exercises.grade("1.1", lambda values: jnp.stack([jnp.sum(values)] * 2), CASES, points=2) == 0.0


def test_an_answer_that_calls_lib_earns_nothing_even_inside_a_nested_function(capsys):
    def through_lib(values):
        return mdp.random_mdp and jnp.sum(values)

    def nested(values):
        return (lambda: jnp.sum(values) + 0 * len(mdp.__name__))()

    for answer in (through_lib, nested):
        assert exercises.grade("1.1", answer, CASES, points=2) == 0.0
        assert "calls mdp from lib" in capsys.readouterr().out


def test_an_attribute_named_like_a_lib_global_is_not_a_shortcut():
    assert log.__module__ == "lib.mdp" and "log" in total.__code__.co_names
    assert exercises.grade("1.1", total, CASES, points=1) == 1.0
