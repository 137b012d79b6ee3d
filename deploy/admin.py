"""Deploy's records are read through the API and the portal; the release
state's admin lives with the model (``releases/admin.py``)."""
