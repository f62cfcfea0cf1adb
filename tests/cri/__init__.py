"""Test support: a kubelet stand-in over CRI against a real containerd.

- :mod:`cri.proto`: the CRI v1 messages (``api.proto``, a subset of k8s.io/cri-api with the
  upstream field numbers), compiled with grpcio-tools when first imported.
- :mod:`cri.images`: tiny images built locally (busybox, and the pause image the CRI plugin
  is configured with), as docker-archive tars that ``ctr images import`` takes.
- :mod:`cri.containerd`: a private containerd (its own root, state, socket and config under
  a temporary folder), stopped and removed afterwards.
- :mod:`cri.kubelet`: what the kubelet does with a pod over CRI (sandbox, containers with
  their Localhost seccomp profiles, stop, remove) and the pod JSON the API server would
  report for it.
- :mod:`cri.apiserver`: a stand-in API server serving those pods.

Usable from tests (``from cri import ...``), benchmarks and scripts (put ``tests/`` on
``sys.path``).
"""
