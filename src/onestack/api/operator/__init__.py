"""Operator API: ``/operator/v1/audit`` (admin-only); ``/metrics`` lives in api/metrics."""
