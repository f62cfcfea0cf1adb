"""The seccomp home: the profile model (``profile``), its OCI/SPO/systemd formats
(``formats``), merge, diff and prune (``ops``), and building and applying the filter
(``filter``)."""
