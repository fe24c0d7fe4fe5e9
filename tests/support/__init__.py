"""Helpers shared by test suites (real servers, not patches)."""
