"""Beam 2.62's Java gRPC servers bind every interface: a one-class patch so they bind their own address.

Beam's `ServerFactory.InetSocketAddressServerFactory` computes the address a server should listen on
(loopback for a dynamic port, `--job-host` for the job server's fixed ports), then builds the server
with `NettyServerBuilder.forPort(address.getPort())`, which listens on the wildcard address. Every gRPC
server of the job server (job, artifact staging) and of the Flink runner (the Fn API's control, data,
state, logging, artifact and provisioning services, in the embedded Flink and in a cluster's task
manager) comes from that factory, and none has a setting for its host. `make deps` therefore rewrites
that one call into `NettyServerBuilder.forAddress(address)` in a copy of the class, in a jar of its own
that the job server's launcher lists before Beam's jars (the copy is staged with every job, so a
cluster's task managers load it too).

The rewrite swaps two instructions for two of the same length: `invokevirtual getPort` becomes three
`nop`s and `invokestatic forPort(int)` becomes `invokestatic forAddress(SocketAddress)`, whose
argument, the address, is then on the stack. A Beam whose class no longer holds that sequence fails the
patch with a message, so an upgrade is checked, not silently unpatched.

    python -m kappa.services.grpc_loopback --lib build/deps/flink-job-server/lib --out DIR/grpc-loopback.jar
"""
import argparse
import struct
import sys
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

CLASS = "org/apache/beam/sdk/fn/server/ServerFactory$InetSocketAddressServerFactory.class"
INVOKEVIRTUAL, INVOKESTATIC, NOP = 0xB6, 0xB8, 0x00
UTF8, CLASS_REF, METHOD_REF, NAME_AND_TYPE = 1, 7, 10, 12
TWO_INDICES = {9, 10, 11, 12, 17, 18}  # field/method refs, name-and-type, (invoke)dynamic
# Constant pool entry sizes after the tag byte (UTF-8 entries carry their length); a long or a double
# takes two slots.
SIZES = {3: 4, 4: 4, 5: 8, 6: 8, 7: 2, 8: 2, 9: 4, 10: 4, 11: 4, 12: 4, 15: 3, 16: 2, 17: 4, 18: 4, 19: 2, 20: 2}


class PatchError(RuntimeError):
    pass


def _constants(data: bytes) -> Tuple[Dict[int, tuple], int]:
    """The constant pool (index -> (tag, values...)) and the offset just after it."""
    count = struct.unpack_from(">H", data, 8)[0]
    pool: Dict[int, tuple] = {}
    offset, index = 10, 1
    while index < count:
        tag = data[offset]
        if tag == UTF8:
            length = struct.unpack_from(">H", data, offset + 1)[0]
            pool[index] = (tag, data[offset + 3:offset + 3 + length].decode("utf-8", "replace"))
            offset += 3 + length
        else:
            if tag in TWO_INDICES:
                pool[index] = (tag, *struct.unpack_from(">HH", data, offset + 1))
            elif tag == CLASS_REF:
                pool[index] = (tag, struct.unpack_from(">H", data, offset + 1)[0])
            offset += 1 + SIZES[tag]
        index += 2 if tag in (5, 6) else 1
    return pool, offset


def _class_name(pool: Dict[int, tuple], index: int) -> str:
    return pool[pool[index][1]][1]


def _method(pool: Dict[int, tuple], owner: str, name: str, descriptor: str) -> Optional[int]:
    for index, (tag, *values) in pool.items():
        if tag == METHOD_REF:
            class_index, (_, name_index, descriptor_index) = values[0], pool[values[1]]
            if (_class_name(pool, class_index), pool[name_index][1], pool[descriptor_index][1]) == \
                    (owner, name, descriptor):
                return index
    return None


def _class_ending(pool: Dict[int, tuple], suffix: str) -> Tuple[int, str]:
    found = [(i, _class_name(pool, i)) for i, (tag, *_) in pool.items()
             if tag == CLASS_REF and _class_name(pool, i).endswith(suffix)]
    if len(found) != 1:
        raise PatchError(f"{CLASS} does not refer to exactly one class *{suffix} (found {found})")
    return found[0]


def patch(data: bytes) -> bytes:
    """The class with its one `forPort(address.getPort())` turned into `forAddress(address)`."""
    pool, pool_end = _constants(data)
    builder_index, builder = _class_ending(pool, "/io/grpc/netty/NettyServerBuilder")
    get_port = _method(pool, "java/net/InetSocketAddress", "getPort", "()I")
    for_port = _method(pool, builder, "forPort", f"(I)L{builder};")
    if get_port is None or for_port is None:
        raise PatchError(f"{CLASS} no longer calls NettyServerBuilder.forPort(address.getPort())")
    call = struct.pack(">BHBH", INVOKEVIRTUAL, get_port, INVOKESTATIC, for_port)
    if data.count(call, pool_end) != 1:
        raise PatchError(f"{CLASS} calls forPort(address.getPort()) {data.count(call, pool_end)} times, not once")
    count = struct.unpack_from(">H", data, 8)[0]
    name, descriptor, nat, method = count, count + 1, count + 2, count + 3

    def utf8(text: str) -> bytes:
        return struct.pack(">BH", UTF8, len(text)) + text.encode()

    added = (utf8("forAddress") + utf8(f"(Ljava/net/SocketAddress;)L{builder};")
             + struct.pack(">BHH", NAME_AND_TYPE, name, descriptor)
             + struct.pack(">BHH", METHOD_REF, builder_index, nat))
    rest = data[pool_end:].replace(call, struct.pack(">BBBBH", NOP, NOP, NOP, INVOKESTATIC, method))
    return data[:8] + struct.pack(">H", count + 4) + data[10:pool_end] + added + rest


def write_patch_jar(lib_dir: Path, out: Path) -> Path:
    jars: List[Path] = [jar for jar in sorted(lib_dir.glob("beam-sdks-java-core-*.jar"))]
    if len(jars) != 1:
        raise PatchError(f"expected one beam-sdks-java-core jar in {lib_dir}, found {len(jars)}")
    with zipfile.ZipFile(jars[0]) as jar:
        patched = patch(jar.read(CLASS))
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        jar.writestr(CLASS, patched)
    tmp.replace(out)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="grpc_loopback", description=__doc__.splitlines()[0])
    parser.add_argument("--lib", required=True, type=Path, help="the job server's copied classpath")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        write_patch_jar(args.lib, args.out)
    except PatchError as err:
        print(f"grpc_loopback: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
