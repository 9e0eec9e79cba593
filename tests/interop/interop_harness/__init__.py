"""The OpenStack interop (refstack-style) tempest harness for Onestack.

Entry point: ``python tests/interop/run.py``. See ``docs/interop.md``.
"""
