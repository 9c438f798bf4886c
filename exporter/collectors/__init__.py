"""Collectors turn source data into metric families; they do no I/O of their own beyond their source."""
