import pytest

from simulator.language.errors import ScenarioError
from simulator.language.yamlio import dump_yaml, load_yaml, parse_scalar


def test_yaml_11_traps_are_closed():
    data, _ = load_yaml("a: no\nb: yes\nc: on\nd: 010\ne: 0o10\nf: 0x1F\ng: true\nh: 2020-01-01\ni: 1.5\nj: 1e3\n")
    assert data == {"a": "no", "b": "yes", "c": "on", "d": 10, "e": 8, "f": 31, "g": True, "h": "2020-01-01",
                    "i": 1.5, "j": 1000.0}


def test_line_map_points_at_keys_and_items():
    _, lines = load_yaml("top:\n  inner:\n    - a\n    - b\n  other: 1\n")
    assert lines.line_of(("top",)) == 1
    assert lines.line_of(("top", "inner", 1)) == 4
    assert lines.line_of(("top", "other")) == 5
    # deeper than anything recorded: the nearest known ancestor
    assert lines.line_of(("top", "other", "x", 3)) == 5


def test_duplicate_keys_name_both_lines():
    with pytest.raises(ScenarioError) as e:
        load_yaml("a: 1\nb:\n  c: 1\n  c: 2\n", "f.yaml")
    assert e.value.line == 4 and "first defined on line 3" in str(e.value) and e.value.path == ("b", "c")


def test_syntax_error_has_a_line():
    with pytest.raises(ScenarioError) as e:
        load_yaml("a: 1\nb: [1, 2\nc: 3\n", "f.yaml")
    assert e.value.line is not None and "could not parse YAML" in str(e.value)


def test_empty_document():
    with pytest.raises(ScenarioError, match="empty"):
        load_yaml("# nothing\n", "f.yaml")


def test_compact_forms_with_commas_in_flow_mappings():
    data, _ = load_yaml("a: {x: uniform(min=1ms, max=2ms), y: 3}\nb: 'kept(a=1, b=2)'  # c(d=1, e=2)\n")
    assert data == {"a": {"x": "uniform(min=1ms, max=2ms)", "y": 3}, "b": "kept(a=1, b=2)"}


def test_parse_scalar_reads_values_like_yaml():
    assert parse_scalar("4") == 4
    assert parse_scalar("no") == "no"
    assert parse_scalar("[a, b]") == ["a", "b"]
    assert parse_scalar("{dist: exponential, mean: 1s}") == {"dist": "exponential", "mean": "1s"}


def test_dump_quotes_ambiguous_strings():
    text = dump_yaml({"a": "no", "b": "010", "c": "fine"})
    assert "'no'" in text and "'010'" in text and "c: fine" in text
    assert load_yaml(text)[0] == {"a": "no", "b": "010", "c": "fine"}
