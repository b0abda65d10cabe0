"""The benchmark harness: agents (``agents``), suites (``suites``), the parallel, resumable runner
(``runner``, ``episode``), statistics with rliable (``stats``), leaderboards (``leaderboard``), the
Minari export (``minari_export``), the analysis report (``report``) and the command line (``cli``)."""
