"""Kubernetes wiring: patched manifests and profiles installed for the kubelet (recording a pod
is a target of the recorder: :mod:`sandprint.profiler.pod_record`)."""
