"""BYTES through a child `cat` with Twisted's spawnProcess.

usage: pipe_twisted.py BYTES

Writes BYTES to cat's stdin in 64 KiB chunks through a pull producer (so Twisted's write
buffer stays small) while the protocol counts what comes back on stdout. Prints MB/s
(10^6 bytes per second) as the last word.
"""

import sys
import time

from twisted.internet import protocol, reactor
from zope.interface import implementer
from twisted.internet.interfaces import IPullProducer

CHUNK = 65536


@implementer(IPullProducer)
class Feeder:
    def __init__(self, transport, total):
        self.transport = transport
        self.left = total
        self.block = b"\x5a" * CHUNK

    def resumeProducing(self):
        if self.left <= 0:
            self.transport.unregisterProducer()
            self.transport.closeStdin()
            return
        n = min(self.left, CHUNK)
        self.left -= n
        self.transport.write(self.block if n == CHUNK else self.block[:n])

    def stopProducing(self):
        self.left = 0


class Cat(protocol.ProcessProtocol):
    def __init__(self, total):
        self.total = total
        self.received = 0
        self.t0 = 0.0
        self.elapsed = 0.0
        self.reason = None

    def connectionMade(self):
        self.t0 = time.perf_counter()
        self.transport.registerProducer(Feeder(self.transport, self.total), False)

    def outReceived(self, data):
        self.received += len(data)
        if self.received == self.total:
            self.elapsed = time.perf_counter() - self.t0

    def processEnded(self, reason):
        self.reason = reason
        reactor.stop()


def main():
    total = int(sys.argv[1])
    cat = Cat(total)
    reactor.spawnProcess(cat, "cat", ["cat"], env=None, path=None, usePTY=False)
    reactor.run()
    if cat.received != total or cat.reason.value.exitCode != 0:
        sys.exit(f"twisted: sent {total} bytes but received {cat.received}")
    print(f"twisted: {total} bytes through cat in {cat.elapsed:.3f} s, MB/s {total / cat.elapsed / 1e6:.1f}")


if __name__ == "__main__":
    main()
