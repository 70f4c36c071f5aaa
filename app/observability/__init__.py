"""What an operator sees of the running service: Prometheus metrics (`metrics.py`, with several
worker processes `workers.py`), one structured log line per request (`logs.py`, `request.py`),
and whether the service can serve (`health.py`). No personal data in any of them."""
