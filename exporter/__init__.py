"""mlobs exporter: GPU (NVML), TF Serving and MLflow state, and which pod holds each GPU, as metrics.

The core (flags and config, the plugin contract, the isolating collector wrapper, the HTTP server) is at the
top; each upstream is a package of its own (`gpu`, `tfserving`, `mlflow`, `attribution`), `kube` is the
Kubernetes API they share and `catalogue` declares every metric.
"""

__version__ = "0.1.0"
