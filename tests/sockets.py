"""The TCP sockets a set of processes and their descendants listen on, read from /proc (Linux)."""
import ipaddress
import os
import socket
from pathlib import Path
from typing import Dict, Iterable, List, Set, Tuple

LISTEN = "0A"
Listening = Tuple[int, str, int, str]  # pid, address, port, the process's command line


def _address(hex_address: str) -> str:
    """/proc/net/tcp{,6} write an address as the raw 32-bit words of its bytes, each in host order."""
    raw = bytes.fromhex(hex_address)
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def _listening_inodes() -> Dict[int, Tuple[str, int]]:
    inodes = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN:
                address, port = fields[1].split(":")
                inodes[int(fields[9])] = (_address(address), int(port, 16))
    return inodes


def _children() -> Dict[int, List[int]]:
    children: Dict[int, List[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        ppid = int(text[text.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    return children


def descendants(pids: Iterable[int]) -> Set[int]:
    children = _children()
    found: Set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def _socket_inodes(pid: int) -> Set[int]:
    inodes = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # ended meanwhile
        return inodes
    for fd in fds:
        try:
            link = os.readlink(fd)
        except OSError:  # closed meanwhile (the listing's own descriptor, when pid is this process)
            continue
        if link.startswith("socket:["):
            inodes.add(int(link[8:-1]))
    return inodes


def listening(pids: Iterable[int]) -> List[Listening]:
    """Every TCP socket in LISTEN state held by one of the processes or their descendants."""
    inodes = _listening_inodes()
    found = set()
    for pid in descendants(pids):
        held = _socket_inodes(pid) & inodes.keys()
        found.update((pid, *inodes[inode], _command(pid)) for inode in held)
    return sorted(found)


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
    except OSError:
        return "?"


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_loopback or bool(getattr(ip, "ipv4_mapped", None) and ip.ipv4_mapped.is_loopback)
