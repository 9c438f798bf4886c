"""NVIDIA GPUs through NVML (collector `gpu`).

`gpu` is the NVML index and `uuid` the GPU's UUID on every per-GPU series; join on `nvidia_gpu_info`
for the model, PCI address, driver and node. A value the GPU or driver does not support is omitted
(never exported as 0 or a sentinel); which ones are missing differs by model and driver.
"""

from exporter.catalogue.spec import MetricSpec, MetricType

GPU = ("gpu", "uuid")


def _gpu(
    name: str, type_: MetricType, help_text: str, unit: str = "", extra: tuple[str, ...] = ()
) -> MetricSpec:
    return MetricSpec(name, type_, help_text, GPU + extra, unit=unit, collector="gpu")


NVML_UP = MetricSpec(
    "nvidia_nvml_up",
    "gauge",
    "Whether NVML answered this scrape: 1 when initialised and read, 0 when not loaded, failed or hung.",
    collector="gpu",
)
NVML_ERRORS = MetricSpec(
    "nvidia_nvml_errors_total",
    "counter",
    "NVML calls that returned an error, by error kind (not_supported counts once per field and GPU).",
    ("kind",),
    collector="gpu",
)
NVML_REINITS = MetricSpec(
    "nvidia_nvml_reinits_total",
    "counter",
    "Attempts to initialise NVML again after a lifecycle error (lost GPU, driver gone, version mismatch).",
    collector="gpu",
)
NVML_CALL_TIMEOUTS = MetricSpec(
    "nvidia_nvml_call_timeouts_total",
    "counter",
    "Scrapes whose NVML reads did not finish within --gpu.call-timeout or found NVML still hung.",
    collector="gpu",
)

INFO = _gpu(
    "nvidia_gpu_info",
    "gauge",
    "GPU identity, value 1; backend is 'fake' when the data is simulated, never real hardware.",
    extra=("name", "pci_bus_id", "driver_version", "cuda_driver_version", "node", "backend"),
)
UP = _gpu(
    "nvidia_gpu_up",
    "gauge",
    "Whether the GPU answered NVML; 0 for a GPU seen before that is lost (XID 79) or unreachable.",
)
UTILIZATION = _gpu(
    "nvidia_gpu_utilization_ratio",
    "gauge",
    "Fraction of the driver's last sample period (1/6 to 1 s) in which a kernel ran; absent on MIG.",
    unit="ratio",
)
MEMORY_UTILIZATION = _gpu(
    "nvidia_gpu_memory_utilization_ratio",
    "gauge",
    "Fraction of the driver's last sample period in which device memory was read or written.",
    unit="ratio",
)
BUSY_SECONDS = _gpu(
    "nvidia_gpu_busy_seconds_total",
    "counter",
    "Busy time integrated from the driver's utilization samples; rate() gives the true average utilization.",
    unit="seconds",
)
MEMORY_USED = _gpu("nvidia_gpu_memory_used_bytes", "gauge", "Device memory in use.", unit="bytes")
MEMORY_TOTAL = _gpu("nvidia_gpu_memory_total_bytes", "gauge", "Device memory installed.", unit="bytes")
MEMORY_RESERVED = _gpu(
    "nvidia_gpu_memory_reserved_bytes",
    "gauge",
    "Device memory reserved by the driver and firmware; absent with drivers older than memory info v2.",
    unit="bytes",
)
TEMPERATURE = _gpu("nvidia_gpu_temperature_celsius", "gauge", "GPU core temperature.", unit="celsius")
MEMORY_TEMPERATURE = _gpu(
    "nvidia_gpu_memory_temperature_celsius",
    "gauge",
    "HBM temperature, which throttles before the core on data-center GPUs; absent where the board has no "
    "memory sensor (GDDR boards).",
    unit="celsius",
)
POWER = _gpu("nvidia_gpu_power_watts", "gauge", "Power drawn by the board.", unit="watts")
POWER_LIMIT = _gpu("nvidia_gpu_power_limit_watts", "gauge", "Power limit the driver enforces.", unit="watts")
ENERGY = _gpu(
    "nvidia_gpu_energy_joules_total",
    "counter",
    "Energy consumed since the driver was loaded (Volta and newer).",
    unit="joules",
)
SM_CLOCK = _gpu("nvidia_gpu_sm_clock_hertz", "gauge", "Current SM clock.", unit="hertz")
MEMORY_CLOCK = _gpu("nvidia_gpu_memory_clock_hertz", "gauge", "Current memory clock.", unit="hertz")
FAN_SPEED = _gpu(
    "nvidia_gpu_fan_speed_ratio",
    "gauge",
    "Intended fan speed as a fraction of maximum; absent on passively cooled boards.",
    unit="ratio",
)
PERFORMANCE_STATE = _gpu(
    "nvidia_gpu_performance_state",
    "gauge",
    "Performance state: 0 (P0) is maximum performance, 15 minimum.",
)
PCIE_BYTES = _gpu(
    "nvidia_gpu_pcie_bytes_total",
    "counter",
    "Bytes moved over PCIe, tx = from the GPU, rx = to the GPU; rate() gives the throughput. "
    "Absent where the driver has no PCIe byte counters.",
    unit="bytes",
    extra=("direction",),
)
PCIE_REPLAYS = _gpu(
    "nvidia_gpu_pcie_replays_total",
    "counter",
    "PCIe packets the link had to send again after an error: a rising rate means a failing link or riser.",
)
PCIE_THROUGHPUT = _gpu(
    "nvidia_gpu_pcie_throughput_bytes_per_second",
    "gauge",
    "PCIe traffic sampled over 20 ms during the scrape, tx = from the GPU, rx = to the GPU. Only with "
    "--gpu.pcie-throughput-sampling: each GPU and direction stalls the scrape 20 ms; prefer "
    "rate(nvidia_gpu_pcie_bytes_total).",
    unit="bytes_per_second",
    extra=("direction",),
)
CLOCK_EVENT = _gpu(
    "nvidia_gpu_clock_event_active",
    "gauge",
    "Whether this reason holds the clocks down (throttling): 1 or 0, one series per reason.",
    extra=("reason",),
)
ECC_ERRORS = _gpu(
    "nvidia_gpu_ecc_errors_total",
    "counter",
    "ECC errors; counter=volatile since the last driver load, aggregate over the board's life. "
    "Absent when ECC is off or unsupported.",
    extra=("error_type", "counter"),
)
REMAPPED_ROWS = _gpu(
    "nvidia_gpu_remapped_rows_total",
    "counter",
    "Memory rows remapped after ECC errors (Ampere and newer).",
    extra=("severity",),
)
REMAPPED_ROWS_PENDING = _gpu(
    "nvidia_gpu_remapped_rows_pending",
    "gauge",
    "Whether a row remapping waits for a GPU reset (1) or not (0).",
)
REMAPPED_ROWS_FAILURE = _gpu(
    "nvidia_gpu_remapped_rows_failure",
    "gauge",
    "Whether a row remapping failed (1): the GPU then needs service.",
)
RETIRED_PAGES = _gpu(
    "nvidia_gpu_retired_pages_total",
    "counter",
    "Memory pages retired after ECC errors (up to Volta; Ampere and newer remap rows instead).",
    extra=("cause",),
)
RETIRED_PAGES_PENDING = _gpu(
    "nvidia_gpu_retired_pages_pending",
    "gauge",
    "Whether a page retirement waits for a driver reload (1) or not (0).",
)
XID_ERRORS = _gpu(
    "nvidia_gpu_xid_errors_total",
    "counter",
    "XID critical errors received since the exporter started, by XID number.",
    extra=("xid",),
)
XID_LAST_SEEN = _gpu(
    "nvidia_gpu_xid_last_seen_timestamp_seconds",
    "gauge",
    "Unix time this XID was last received; alert on time() minus this to catch repeats.",
    unit="seconds",
    extra=("xid",),
)
MIG_MODE = _gpu(
    "nvidia_gpu_mig_mode_enabled",
    "gauge",
    "Whether MIG mode is on (1) or off (0); absent on GPUs without MIG.",
)
MIG_INSTANCE_INFO = _gpu(
    "nvidia_gpu_mig_instance_info",
    "gauge",
    "One MIG device, value 1; join on mig_uuid. NVML reports no utilization for MIG devices.",
    extra=("mig_uuid", "gpu_instance", "compute_instance", "profile"),
)
MIG_MEMORY_USED = _gpu(
    "nvidia_gpu_mig_memory_used_bytes",
    "gauge",
    "Memory in use in the MIG device.",
    unit="bytes",
    extra=("mig_uuid",),
)
MIG_MEMORY_TOTAL = _gpu(
    "nvidia_gpu_mig_memory_total_bytes",
    "gauge",
    "Memory of the MIG device.",
    unit="bytes",
    extra=("mig_uuid",),
)

NVML_METRICS = (NVML_UP, NVML_ERRORS, NVML_REINITS, NVML_CALL_TIMEOUTS)
METRICS = (
    *NVML_METRICS,
    INFO,
    UP,
    UTILIZATION,
    MEMORY_UTILIZATION,
    BUSY_SECONDS,
    MEMORY_USED,
    MEMORY_TOTAL,
    MEMORY_RESERVED,
    TEMPERATURE,
    MEMORY_TEMPERATURE,
    POWER,
    POWER_LIMIT,
    ENERGY,
    SM_CLOCK,
    MEMORY_CLOCK,
    FAN_SPEED,
    PERFORMANCE_STATE,
    PCIE_BYTES,
    PCIE_REPLAYS,
    PCIE_THROUGHPUT,
    CLOCK_EVENT,
    ECC_ERRORS,
    REMAPPED_ROWS,
    REMAPPED_ROWS_PENDING,
    REMAPPED_ROWS_FAILURE,
    RETIRED_PAGES,
    RETIRED_PAGES_PENDING,
    XID_ERRORS,
    XID_LAST_SEEN,
    MIG_MODE,
    MIG_INSTANCE_INFO,
    MIG_MEMORY_USED,
    MIG_MEMORY_TOTAL,
)
