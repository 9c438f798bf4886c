"""Test doubles of upstreams that cannot run here, each built to the upstream's exact behaviour."""
