"""tools.rerun: a chapter's experiment at N seeds prints its claims with their margins and writes every run."""

import json

import numpy as np
import pytest

from tools import rerun


def tiny(num_seeds, runs_per_device):
    """Stands in for a training: seed j's 'return' is j, so the mean and its standard error are known."""
    return {"returns": np.arange(num_seeds, dtype=float)}


TINY = rerun.Experiment(
    "00_none",
    "a stand-in",
    tiny,
    (rerun.Claim("mean above 1", "returns", True, 1.0), rerun.Claim("mean below 0", "returns", False, 0.0)),
)


def test_claims_print_their_margin_and_a_failed_claim_fails_the_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(rerun.EXPERIMENTS, "tiny", TINY)
    output = tmp_path / "runs.json"
    assert rerun.main(["tiny", "--seeds", "9", "--output", str(output)]) == 1  # the second claim is false
    printed = capsys.readouterr().out
    # mean 4, SE sqrt(7.5 / 9) = 0.913: 3 / 0.913 = 3.3 SE above 1, and -4.4 SE "below" 0
    assert "PASS mean above 1: mean 4 ± 0.91 (SE, 9 seeds), above 1 by 3.3 standard errors" in printed
    assert "FAIL mean below 0: mean 4 ± 0.91 (SE, 9 seeds), below 0 by -4.4 standard errors" in printed
    report = json.loads(output.read_text())
    assert report["runs"]["returns"] == list(range(9)) and report["seeds"] == 9 and len(report["claims"]) == 2


def test_every_experiment_is_listed_and_too_few_seeds_is_refused(capsys):
    assert rerun.main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in rerun.EXPERIMENTS)
    with pytest.raises(SystemExit):
        rerun.main(["21-pendulum", "--seeds", "1"])
    assert "--seeds must be at least 2" in capsys.readouterr().err
