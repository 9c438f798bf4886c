"""Which pod, namespace and model holds each GPU: the kubelet pod-resources API (`podresources`, stubs in
`podresources_pb/`), pod names and /proc cgroups as sources, the join of the GPU and TF Serving collectors'
data (`inputs`, `join`, `collector`), the plugin (`--attribution.*`, declared to use gpu and tfserving), the
catalogue and a fake kubelet (`fake_kubelet`)."""
