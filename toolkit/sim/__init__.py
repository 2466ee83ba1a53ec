"""SimPy workloads, scenarios, the runner and sweeps.

Load a scenario (:func:`load_scenario`, or build a :class:`Scenario` in code), :func:`run` it
to get a :class:`SimResult` (a timeline DataFrame and a summary), and :func:`sweep` a grid of
overrides over it. See the "Simulation" section of the README.
"""

from .distributions import Distribution
from .errors import ScenarioError
from .latency import LatencyModel
from .metrics import TIMELINE_COLUMNS, Level, MetricsRecorder, Tally
from .runner import OperationRecord, SimResult, run
from .scenario import Background, DataStoreSpec, Sampling, Scenario, find_key_line, load_scenario
from .sweep import SweepResult, parse_assignment, sweep
from .workload import Arrival, KeyPopularity, Trace, Workload, read_trace

__all__ = [
    "Arrival",
    "KeyPopularity",
    "Distribution",
    "Workload",
    "Trace",
    "read_trace",
    "LatencyModel",
    "DataStoreSpec",
    "Background",
    "Sampling",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "find_key_line",
    "Level",
    "Tally",
    "MetricsRecorder",
    "TIMELINE_COLUMNS",
    "OperationRecord",
    "SimResult",
    "run",
    "sweep",
    "SweepResult",
    "parse_assignment",
]
