"""TensorFlow Serving: the source (`source` over `http`, a keep-alive client with deadlines; `page`,
`page_lines`, `page_data` and `histograms` parse the Prometheus page into typed data), the collector (reads
every target on its own thread pool each scrape, each within its timeout, then renders with `families`),
`discovery` of TF Serving pods through the Kubernetes API (re-listed at most every refresh interval), the
plugin (`--tfserving.*`), the catalogue and the simulator (`simulator`, `simulator_http`, `simulator_state`,
`simulator_format`) speaking TF Serving's exact formats."""
