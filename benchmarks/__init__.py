"""`make bench`: performance numbers for the exporter, printed, never asserted in tests."""
