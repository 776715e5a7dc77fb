"""Test-process settings shared by every test module."""

from preflight.process import defer_full_collections

# Each test worker runs the program under mocks hundreds of times in one process, and its heap only
# grows: the same full-collection cost preflight's own processes avoid (preflight/process.py).
defer_full_collections()
