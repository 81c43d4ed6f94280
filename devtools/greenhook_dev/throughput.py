"""Sustained throughput of the local stack: webhooks/s from HTTP to stored, per 1,000.

`python -m greenhook_dev.throughput --webhooks 10000` starts a local stack in this process,
posts `load`'s generated conversations (unique bodies over `--chats` chats, shuffled, no
re-sends) from concurrent senders, and prints a line each time another `--every` records
were stored by the process function, with the rate of that slice: a stack that slows down
as moto's queue and table grow shows it here, where one overall figure would hide it.
"Stored" is a record the poller deleted after the process function succeeded on it.
No correctness check: `make load` does that.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

import requests

from greenhook_dev.load import build_plan

REQUEST_TIMEOUT = 60


class StoredCounter:
    """Wraps the process function: counts the records of each batch that did not fail."""

    def __init__(self, invoke: Any) -> None:
        self.invoke = invoke
        self.stored = 0
        self.changed = threading.Condition()

    def __call__(self, event: dict) -> Any:
        result = self.invoke(event)
        failed = len((result or {}).get("batchItemFailures") or [])
        with self.changed:
            self.stored += len(event["Records"]) - failed
            self.changed.notify_all()
        return result


def _send_all(url: str, authorization: str, bodies: list[bytes], senders: int) -> list[int]:
    """Post every body once from `senders` threads; the count of non-200 answers per thread."""
    jobs, lock = iter(bodies), threading.Lock()
    failures = [0] * senders
    headers = {"Content-Type": "application/json", "Authorization": authorization}

    def run(n: int) -> None:
        session = requests.Session()
        while True:
            with lock:
                body = next(jobs, None)
            if body is None:
                return
            for _ in range(5):  # as GREEN-API: the same bytes again until a 200
                response = session.post(url, data=body, headers=headers, timeout=REQUEST_TIMEOUT)
                if response.status_code == 200:
                    break
                failures[n] += 1
                time.sleep(0.5)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def measure(running: Any, webhooks: int, chats: int, senders: int, every: int) -> dict:
    """Send `webhooks` unique bodies through `running` and report the stored rate per slice."""
    plan = build_plan(webhooks, chats, 0.0, seed=7, id_instance=3_100_000_001, start=1_700_000_000)
    bodies = [send.body for send in plan.sends]
    counter = StoredCounter(running.poller.invoke)
    running.poller.invoke = counter
    info = running.info
    started = time.perf_counter()
    sent: dict[str, Any] = {}
    sender = threading.Thread(
        target=lambda: sent.update(
            failures=_send_all(info["webhook_url"], info["authorization"], bodies, senders),
            seconds=time.perf_counter() - started,
        ),
        daemon=True,
    )
    sender.start()
    slices = []
    last_time, mark = started, every
    with counter.changed:
        while counter.stored < len(bodies):
            if not counter.changed.wait(timeout=600):
                break  # nothing stored for 10 minutes: give up, report what there is
            while counter.stored >= mark:
                now = time.perf_counter()
                slices.append(every / (now - last_time))
                print(
                    f"stored {mark:6d} after {now - started:7.1f} s: "
                    f"{slices[-1]:6.1f}/s for the last {every}",
                    file=sys.stderr,  # stdout is silenced while the handlers run
                    flush=True,
                )
                last_time, mark = now, mark + every
    total = time.perf_counter() - started
    sender.join()
    return {
        "webhooks": len(bodies),
        "stored": counter.stored,
        "seconds": total,
        "stored_per_second": counter.stored / total,
        "accepted_per_second": len(bodies) / sent["seconds"],
        "non_200": sum(sent["failures"]),
        "slices": slices,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m greenhook_dev.throughput", description=__doc__.split("\n", 1)[0]
    )
    parser.add_argument("--webhooks", type=int, default=10_000)
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--every", type=int, default=1000, help="report every N stored")
    args = parser.parse_args(argv)

    from greenhook_dev.bench import stdout_silenced
    from greenhook_dev.local_stack import start_local_stack

    with stdout_silenced():  # the handlers log every webhook there, as in Lambda
        running = start_local_stack(port=0, state_dir=None)
    try:
        with stdout_silenced():
            result = measure(running, args.webhooks, args.chats, args.senders, args.every)
    finally:
        running.stop()
    print(
        f"{result['stored']} of {result['webhooks']} stored in {result['seconds']:.1f} s: "
        f"{result['stored_per_second']:.1f} webhooks/s to stored "
        f"(accepted {result['accepted_per_second']:.1f}/s, {result['non_200']} non-200 answers)"
    )
    return 0 if result["stored"] == result["webhooks"] else 1


if __name__ == "__main__":
    sys.exit(main())
