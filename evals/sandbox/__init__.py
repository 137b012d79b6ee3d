"""A local sandbox without network for agentic suites: see ``jail``."""
