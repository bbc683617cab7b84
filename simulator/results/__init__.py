"""What a run produced, as plain data: the `Result` (summary, pandas frames) and the vocabulary of
run metrics (names, units, which way is better) that studies, SLOs and reports share.
Imports the engine only for outcome codes."""
