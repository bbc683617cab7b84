"""Small scenario builders shared by the tests."""
from __future__ import annotations

import textwrap

import simulator

BASIC = """
name: t
seed: {seed}
duration: {duration}
warmup: {warmup}
components:
  app: {{type: server, workers: 2, service_time: exponential(mean=100ms)}}
workloads:
  clients: {{arrivals: poisson(rate=15/s), target: app}}
"""


def scenario(text: str, **fmt) -> simulator.Scenario:
    return simulator.loads_scenario(textwrap.dedent(text).format(**fmt) if fmt else textwrap.dedent(text))


def run(text: str, seed: int | None = None, **fmt) -> simulator.Result:
    if "{seed}" in text:
        fmt = {"seed": 0, "duration": "100s", "warmup": "0s", **fmt}
    return simulator.run(scenario(text, **fmt), seed=seed)
