"""Core: config, tiers, errors, lifecycle, storage helpers. Imports nothing heavy."""
