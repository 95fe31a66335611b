"""Shared parts of the algorithms: networks, policies and distributions, replay, evaluation, samplers."""
