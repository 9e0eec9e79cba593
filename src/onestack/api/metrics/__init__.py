"""``/metrics``: the Prometheus exposition on the API port."""
