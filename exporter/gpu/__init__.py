"""NVIDIA GPUs through NVML: the source (`nvml` reads a snapshot on the `nvml_worker` thread, bounded by the
call timeout; `nvml_device` and `nvml_processes` read one GPU, `nvml_errors` classifies failures,
`nvml_types` holds the typed readings, `nvml_events` watches XIDs on a thread of its own), the collector
(asks the source for a snapshot each scrape and renders it), the plugin (`--gpu.*`), the catalogue and the
fake NVML (`fake_nvml/`, YAML scenarios in `scenarios/`) that tests and demos run instead of a driver."""
