"""Onestack: an OpenStack-compatible cloud that starts with one command."""

__version__ = "0.1.0"
