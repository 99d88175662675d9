"""The patch that keeps Beam's Java gRPC servers on loopback (`kappa.services.grpc_loopback`): it
rewrites exactly the one call, and refuses a class that no longer holds it."""
import struct
import zipfile

import pytest

from kappa.services import deps, grpc_loopback

BUILDER = "org/apache/beam/vendor/grpc/v1p60p1/io/grpc/netty/NettyServerBuilder"
FOR_PORT, FOR_ADDRESS = f"(I)L{BUILDER};", f"(Ljava/net/SocketAddress;)L{BUILDER};"


def beams_class() -> bytes:
    [core] = (deps.root() / "flink-job-server" / "lib").glob("beam-sdks-java-core-*.jar")
    with zipfile.ZipFile(core) as jar:
        return jar.read(grpc_loopback.CLASS)


def calls(data: bytes, name: str, descriptor: str) -> int:
    pool, end = grpc_loopback._constants(data)
    index = grpc_loopback._method(pool, BUILDER, name, descriptor)
    return 0 if index is None else data.count(struct.pack(">BH", grpc_loopback.INVOKESTATIC, index), end)


def test_the_server_is_built_for_its_address_not_for_its_port_alone():
    original, patched = beams_class(), grpc_loopback.patch(beams_class())
    assert (calls(original, "forPort", FOR_PORT), calls(original, "forAddress", FOR_ADDRESS)) == (1, 0)
    assert (calls(patched, "forPort", FOR_PORT), calls(patched, "forAddress", FOR_ADDRESS)) == (0, 1)
    # Four constants appended (two UTF-8 strings, a name-and-type, a method); the code keeps its length.
    assert len(patched) - len(original) == (3 + len("forAddress")) + (3 + len(FOR_ADDRESS)) + 5 + 5


def test_a_class_without_the_call_is_refused():
    unpatchable = grpc_loopback.patch(beams_class())
    with pytest.raises(grpc_loopback.PatchError) as refused:
        grpc_loopback.patch(unpatchable)
    assert str(refused.value) == (f"{grpc_loopback.CLASS} calls forPort(address.getPort()) 0 times, not once")
