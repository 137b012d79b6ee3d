"""Inspect's entry point into this package (``[project.entry-points.inspect_ai]``):
registers the ``stagegate`` model provider and the suites as tasks
(``inspect eval stagegate/<suite>``)."""

from evals.inspect_tasks import TASKS  # noqa: F401
from stagegate_inspect.provider import stagegate  # noqa: F401
