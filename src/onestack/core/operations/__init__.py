"""Operations: request metrics, the Prometheus exposition, and the audit trail of writes."""
