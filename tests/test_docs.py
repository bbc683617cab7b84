"""The scenario reference is generated from the schema; the committed copy must match the code."""
from pathlib import Path

from simulator.scenario.reference import generate


def test_reference_is_up_to_date():
    committed = Path("docs/reference.md").read_text()
    assert committed == generate(), "run: python -m simulator.scenario.reference > docs/reference.md"


def test_reference_covers_every_registered_name():
    from simulator.scenario.plugins import load_components

    load_components()
    from simulator.language import registry

    text = generate()
    for reg in (registry.components, registry.lb_algorithms, registry.arrivals, registry.key_dists, registry.faults,
                registry.replication_modes, registry.read_from_policies, registry.cache_modes, registry.queue_ack_modes, registry.call_policies,
                registry.rate_limiters, registry.scaling_rules):
        for name in reg.names():
            assert f"`{name}`" in text, name
    for name in registry.distributions.names():
        assert f"`{name}`" in text
