"""The scenario language: YAML read with line numbers, quantities with units, the compact
`name(key=value)` call syntax, validated immutable configs, located errors, and the registries that map
YAML names to classes. The lowest layer: imports nothing else of dsim."""
