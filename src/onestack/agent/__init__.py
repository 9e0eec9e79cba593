"""Per-host agents: converge the host to what the database declares, report what is."""
