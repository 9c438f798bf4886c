"""TensorFlow Serving: the source (`source`, `http`, `page`, `histograms`: REST status and the Prometheus
page read into typed data), the collector and its families, discovery of TF Serving pods through the
Kubernetes API, the plugin (`--tfserving.*`), the catalogue and the simulator (`simulator*`) speaking TF
Serving's exact formats."""
