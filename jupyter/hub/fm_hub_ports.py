"""Ports: the hub's own address checked before anything is created, free ports
for the hub's internal APIs, and a fixed port for each user's server.
"""

import errno
import secrets
import socket

from fm_hub_state import UsageError


def check_port(ip: str, port: int) -> None:
    s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the proxy binds: a closing connection is no conflict
    try:
        s.bind((ip, port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise UsageError("port %d on %s is already in use (another hub or server: `ss -ltnp 'sport = :%d'` "
                             "shows which); choose another with --port" % (port, ip, port))
        if e.errno == errno.EADDRNOTAVAIL:
            raise UsageError("--ip %s is not an address of this machine" % ip)
        if e.errno == errno.EACCES:
            raise UsageError("port %d needs more rights than this process has; choose one above 1023" % port)
        raise UsageError("cannot listen on %s:%d: %s" % (ip, port, e.strerror))
    finally:
        s.close()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def server_ports(usernames: list) -> dict:
    """A port for each user's server, free now and below the kernel's ephemeral range.

    JupyterHub's LocalProcessSpawner otherwise picks a random ephemeral port when
    a server starts. With a class starting at once (the load test, 28 servers
    and their kernels' 5 ports each), two picks met: one student's server could
    not bind, the hub found the other's server answering at that address, and
    sent the first student's requests there. Ports fixed per user for this run
    of the hub, taken outside the range the kernel hands out (kernels' own
    ports come from there), cannot meet that way. The block starts at a random
    place so two hubs on one machine seldom try the same ports.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    low, high = 10000, ephemeral_low - 1
    ports, candidate = {}, low + secrets.randbelow(max(1, high - low - 4 * len(usernames)))
    for name in usernames:
        while True:
            if candidate > high:
                raise UsageError("no free ports left between %d and %d for the users' servers" % (low, high))
            port, candidate = candidate, candidate + 1
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            finally:
                s.close()
            ports[name] = port
            break
    return ports
