"""What a curious student tries to read another's kernel (hub integrity test): run as that student.

  python hub_overhear.py UID SECONDS

Subscribes (ZeroMQ SUB, every topic) to every TCP socket the user UID listens on (from /proc/net/tcp
and tcp6, which any user can read) and to every kernel socket it can find in UID's runtime folder
(/run/fm-hub/UID), for SECONDS; prints what it tried and "RECEIVED n" (messages heard).
"""

import os
import sys
import time

import zmq


def listening_ports(uid: int) -> list:
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[7]) == uid:  # LISTEN
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(set(ports))


def main(uid: int, seconds: float) -> None:
    ctx = zmq.Context()
    sockets = []
    ports = listening_ports(uid)
    print("TCP %s" % ports)
    for port in ports:
        s = ctx.socket(zmq.SUB)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect("tcp://127.0.0.1:%d" % port)
        sockets.append(s)
    folder = "/run/fm-hub/%d" % uid
    try:
        paths = [os.path.join(folder, n) for n in os.listdir(folder)]
        print("IPC %s" % paths)
    except OSError as e:
        paths = []
        print("IPC refused: %s" % e)
    for path in paths:
        s = ctx.socket(zmq.SUB)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect("ipc://" + path)
        sockets.append(s)
    poller = zmq.Poller()
    for s in sockets:
        poller.register(s, zmq.POLLIN)
    received, end = 0, time.time() + seconds
    while time.time() < end:
        for s, _ in poller.poll(200):
            s.recv_multipart()
            received += 1
    print("RECEIVED %d" % received)


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]))
