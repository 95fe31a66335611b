"""The training loops the chapters share: off-policy (replay) and on-policy (rollouts)."""
