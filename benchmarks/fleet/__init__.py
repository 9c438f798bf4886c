"""Fleet scale: a synthetic fleet in the exporter's names (`generate`), backfilled into real engines
(`engines`), with rule and dashboard cost measured (`measure`) and the global view checked against
per-cluster Prometheus (`compare`). `python -m benchmarks.fleet` prints the table docs/scale.md keeps."""
