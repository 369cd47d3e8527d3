"""One module per workload: each runs its loads (through ``benchmark.driver``) and turns them into rows and verdicts."""
