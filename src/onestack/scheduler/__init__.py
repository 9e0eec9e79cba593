"""Placement: resource providers, inventories, allocations, traits, aggregates, and the
allocation candidates the scheduler picks hosts from. Imports neither api, cli nor core."""
