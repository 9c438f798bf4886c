"""A local stack for demos and live tests: the exporters on simulated upstreams, a real Prometheus with the
generated rules, a real Alertmanager and a webhook that records what it pages, all on loopback.

`python -m demo` brings it up for a person (`make demo`); tests use `demo.stack.Stack`.
"""
