"""SimPy workloads, scenarios, the runner and sweeps."""
