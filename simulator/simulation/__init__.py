"""One run: elaborating a validated scenario into a `System` of live components, scheduling its
workloads, faults and metric sampling, running it and collecting a `Result`. Imports the scenario layer
and everything below; never the study layer or reports."""
