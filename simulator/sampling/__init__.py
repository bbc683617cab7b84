"""Randomness: named random streams derived from the scenario seed (common random numbers), numpy
block draws for the hot path, and the distributions of service times, latencies and sizes.
Imports only the language layer."""
