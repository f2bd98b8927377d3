"""`bench ui`: the operator page, built on the run journal (see app.py, security.py, docs/operator-view.md)."""
