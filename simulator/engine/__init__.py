"""The hot path: the simulation environment (SimPy clock and heap plus the run-wide context),
requests and their outcomes, the network every message crosses, and the columnar recorder.
Imports language and sampling; never the scenario loader, the study layer, models or reports."""
