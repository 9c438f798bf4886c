"""Sources talk to one upstream each and return plain typed data."""
