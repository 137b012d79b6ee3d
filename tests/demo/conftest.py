# The scripted model the evaluation tests serve behind the real gateway.
from tests.evals.conftest import model  # noqa: F401
