"""CPU seconds spent by this process and by its Postgres backend.

On a shared box the wall clock measures the other jobs as much as ours: a
process given a sixth of a core runs six times slower. CPU time is what the
work costs wherever it runs; "per CPU second" figures are what one otherwise
idle core would give (an upper bound: they leave out waiting on the disk and
the client/server round trips, small here beside the CPU).

The backend's time is read from /proc (Linux, the database on this machine).
"""

import os
import time

_TICKS = os.sysconf("SC_CLK_TCK")


def backend_pid(connection) -> int:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def process_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


class CpuClock:
    """CPU seconds of this process plus its database backend since start()."""

    def __init__(self, connection):
        self.connection = connection

    def start(self) -> "CpuClock":
        self.pid = backend_pid(self.connection)
        self.client0 = time.process_time()
        self.server0 = process_cpu(self.pid)
        return self

    def read(self) -> tuple[float, float]:
        """(client, server) CPU seconds so far."""
        if backend_pid(self.connection) != self.pid:
            raise RuntimeError("the database connection changed while timed")
        return time.process_time() - self.client0, process_cpu(self.pid) - self.server0
