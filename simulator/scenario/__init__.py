"""Scenario loading: the top-level schema, cross-checks, overrides (`--set`), plugin loading (the one
place component types are imported) and the generated reference. Imports models and everything below."""
