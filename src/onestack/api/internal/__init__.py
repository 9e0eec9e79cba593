"""The internal API remote compute agents call (not in the Keystone catalog)."""
