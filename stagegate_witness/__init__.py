"""The independent witness of the Stagegate transparency log, as its own
process with its own database and its own key (docs/witness.md).

No Django: it reads the log only through the log's HTTP API with its own
credentials, checks with ``transparency.witness`` (pure), keeps what it
cosigned and every split view it saw in a database the log's writer has no
credentials for, and publishes both over a read-only HTTP endpoint."""
