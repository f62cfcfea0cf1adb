"""sandprint: record a workload with eBPF and write the sandbox that fits it."""

__version__ = "0.1.0"
