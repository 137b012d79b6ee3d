"""The gateway's data plane: what runs on every model call, apart from Django's
request machinery (docs/gateway.md, Serving). Nothing here imports the Django
app's views, admin or API; the app reads what the data plane hands it (the
access-log entry, ``entry.AccessEntry``) through one definition."""
