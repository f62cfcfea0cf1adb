"""The CRI v1 messages, compiled from ``api.proto`` next to this file with grpcio-tools
(into a private temporary folder, once per process), and a small gRPC client over them."""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
from functools import lru_cache

HERE = os.path.dirname(os.path.abspath(__file__))


@lru_cache(maxsize=None)
def pb():
    """The generated module (``api_pb2``) of api.proto."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="sandprint-cri-pb-")
    atexit.register(shutil.rmtree, out, True)
    import grpc_tools
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{HERE}", f"-I{include}", f"--python_out={out}",
                      os.path.join(HERE, "api.proto")])
    if rc != 0:
        raise RuntimeError(f"protoc failed on {HERE}/api.proto ({rc})")
    spec = importlib.util.spec_from_file_location("sandprint_cri_api_pb2",
                                                  os.path.join(out, "api_pb2.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


class Client:
    """CRI's RuntimeService and ImageService over a unix socket: ``client.RunPodSandbox(req)``
    for any rpc of api.proto (method names as upstream)."""

    def __init__(self, socket_path: str, timeout: float = 60.0):
        # grpc's fork handlers restart its threads in a forked child, and the suite's later
        # tests fork children that must be single-threaded (unshare(CLONE_NEWUSER) refuses a
        # threaded caller; Landlock refuses to leave threads unconfined under hard compat)
        os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
        import grpc

        self.channel = grpc.insecure_channel(f"unix://{socket_path}")
        self.timeout = timeout
        self._pb = pb()
        self._calls = {}
        for service in self._pb.DESCRIPTOR.services_by_name.values():
            for m in service.methods:
                req = getattr(self._pb, m.input_type.name)
                resp = getattr(self._pb, m.output_type.name)
                self._calls[m.name] = self.channel.unary_unary(
                    f"/{service.full_name}/{m.name}", request_serializer=req.SerializeToString,
                    response_deserializer=resp.FromString)

    def __getattr__(self, name):
        calls = self.__dict__.get("_calls") or {}
        if name not in calls:
            raise AttributeError(name)
        call = calls[name]
        return lambda req, timeout=None: call(req, timeout=timeout or self.timeout)

    def close(self) -> None:
        self.channel.close()
