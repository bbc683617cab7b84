"""Faults on the timeline: each fault type is a registered, validated config that, for exactly its
window, adds a counted contribution to the nodes or links it names, so overlapping faults compose.
Imports language and engine."""
