"""promptgym's benchmarks: the harness for any agent on fixed suites (``benchmarks.run``,
``promptgym bench``, ``promptgym report``) and the throughput and learning scripts beside it
(``python benchmarks/executor_throughput.py`` ...), which stay runnable as scripts.

Importing this package is cheap: the harness loads rliable, Minari and the envs on first use.
"""

from benchmarks.harness.runner import run

__all__ = ["run"]
