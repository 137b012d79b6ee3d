"""The cyber suite's tasks and their services (the suite itself is
``evals.suites.cyber_ctf``, the module the registry imports)."""
