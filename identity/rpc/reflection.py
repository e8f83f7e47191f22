"""Server reflection (v1alpha and v1) that keeps the proto comments, for `grpcurl describe`.

grpcio-reflection rebuilds each file with CopyToProto, which drops source info (the comments),
and serves only v1alpha. We answer with the descriptor set scripts/gen-protos writes (comments
included), and register the same servicer under the v1 name: its messages and field numbers are
identical to v1alpha's.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, timestamp_pb2
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer

REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def _documented_files() -> dict[str, bytes]:
    data = resources.files("identity.v1").joinpath("descriptors.binpb").read_bytes()
    return {
        f.name: f.SerializeToString()
        for f in descriptor_pb2.FileDescriptorSet.FromString(data).file
    }


class DocumentedReflectionServicer(ReflectionServicer):
    _pool: descriptor_pool.DescriptorPool

    def __init__(self, service_names: Iterable[str]) -> None:
        self._documented = _documented_files()
        pool = descriptor_pool.DescriptorPool()
        for module in (timestamp_pb2, health_pb2, reflection_pb2):
            pool.Add(descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb))
        for serialized in self._documented.values():
            pool.Add(descriptor_pb2.FileDescriptorProto.FromString(serialized))
        super().__init__(tuple(service_names), pool=pool)

    def _file_by_filename(self, request: Any, filename: str) -> Any:
        try:
            return self._response(self._pool.FindFileByName(filename), request)
        except KeyError:
            return _not_found(request)

    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        try:
            return self._response(
                self._pool.FindFileContainingSymbol(fully_qualified_name), request
            )
        except KeyError:
            return _not_found(request)

    def _response(self, descriptor: Any, request: Any) -> reflection_pb2.ServerReflectionResponse:
        files: dict[str, Any] = {}
        pending = [descriptor]
        while pending:
            current = pending.pop()
            if current.name not in files:
                files[current.name] = current
                pending.extend(current.dependencies)
        serialized = []
        for name, file in files.items():
            if name in self._documented:
                serialized.append(self._documented[name])
            else:
                proto = descriptor_pb2.FileDescriptorProto()
                file.CopyToProto(proto)
                serialized.append(proto.SerializeToString())
        return reflection_pb2.ServerReflectionResponse(
            file_descriptor_response=reflection_pb2.FileDescriptorResponse(
                file_descriptor_proto=serialized
            ),
            original_request=request,
        )


def _not_found(request: Any) -> reflection_pb2.ServerReflectionResponse:
    return reflection_pb2.ServerReflectionResponse(
        error_response=reflection_pb2.ErrorResponse(
            error_code=grpc.StatusCode.NOT_FOUND.value[0], error_message="not found"
        ),
        original_request=request,
    )


def enable_reflection(server: grpc.aio.Server, service_names: Iterable[str]) -> None:
    names = (*service_names, reflection.SERVICE_NAME, REFLECTION_V1)
    servicer = DocumentedReflectionServicer(names)
    handlers = {
        "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
    }
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(reflection.SERVICE_NAME, handlers),
            grpc.method_handlers_generic_handler(REFLECTION_V1, handlers),
        )
    )
