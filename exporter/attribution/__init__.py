"""Which pod, namespace and model holds each GPU: the kubelet pod-resources API (`podresources`, gRPC stubs
in `podresources_pb/`), pod names from the Kubernetes API (`pod_names`, cached) and /proc cgroups
(`proc_cgroups`) as sources; the collector, which starts the pod-resources call in `prepare`, before any
collector of the scrape runs, then joins the GPU and TF Serving collectors' data (`inputs`, `join`); the
plugin (`--attribution.*`, declared to use gpu and tfserving), the catalogue and a fake kubelet
(`fake_kubelet`)."""
