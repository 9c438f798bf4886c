"""Generated stubs for the kubelet pod-resources v1 API (`api.proto` here); regenerate, never edit by hand."""
