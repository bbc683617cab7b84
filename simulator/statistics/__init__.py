"""Offline statistics with no knowledge of simulations: confidence intervals and paired differences
over replications, and the MSER-5 warm-up rule. Imports nothing else of dsim."""
