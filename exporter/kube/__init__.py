"""The Kubernetes API as the exporter reads it (`pods`: pods on this node, in-cluster credentials), shared by
TF Serving discovery and attribution's pod names, and a fake API server (`fake_api`) speaking its wire
protocol."""
