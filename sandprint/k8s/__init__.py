"""Kubernetes wiring: patched manifests, profiles installed for the kubelet, pods as targets."""
