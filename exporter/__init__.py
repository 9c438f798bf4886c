"""mlobs exporter: GPU (NVML), TF Serving and MLflow state as Prometheus metrics."""

__version__ = "0.1.0"
