from tests.deploy.conftest import gate  # noqa: F401  (the gate fixture: a lab, its audit, two assigned auditors)
