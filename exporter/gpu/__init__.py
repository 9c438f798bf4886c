"""NVIDIA GPUs through NVML: the source (`nvml*`: calls on a worker thread, typed readings, error
classification), the collector (readings -> families), the plugin (`--gpu.*`), the catalogue and the fake
NVML (`fake_nvml/`, YAML scenarios in `scenarios/`) that tests and demos run instead of a driver."""
