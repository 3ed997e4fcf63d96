"""Durability of acknowledged messages under SIGKILL (storage/README.md "What is durable when"): a QoS 1 PUBLISH
bound for the outbox is acknowledged only after its transaction committed, so killing the daemon at any moment
loses no acknowledged message.

Load: DURA_PUBLISHERS (4) publisher processes (tests/integration/dura_publisher.py, paho-mqtt), each QoS 1 on
dura/<publisher> with payloads "<publisher>:<seq>", seq 1, 2, 3 ..., at most DURA_WINDOW (10) unacknowledged, at most
DURA_RATE (1000, 0 = as fast as possible) messages per second each. They record every acknowledged seq to a file and
reconnect (to the same port) and re-send their unacknowledged messages whenever the daemon goes away. One persistent
subscriber (MQTT 3.1.1, clean session off) subscribes to dura/# at QoS 1 before they start and stays offline.

The daemon is SIGKILLed DURA_KILLS times (20; CI) at random moments (0.2 to 1.5 s after every publisher has been
acknowledged again since the last restart) and restarted on the same port. Then the publishers stop, the daemon
stops with SIGTERM, and the SQLite file is read:
  (a) every acknowledged (publisher, seq) is an outbox row;
  (b) per publisher, in id order, origin_seq counts 1, 2, 3 ... and the seqs obey the order rule of
      dura_common.check_stream (no reordering; a duplicate only re-sends one of the last DURA_WINDOW);
  (c) no gaps: 1 .. highest acknowledged seq are all there;
  integrity_check = ok. Then the daemon starts again, the subscriber comes back (clean session off) and receives
  every acknowledged message, per publisher in the same order rule, as many deliveries as its queue held.
Duplicates (re-sends of stored but unacknowledged messages) are allowed, counted and printed.

The daemon is started on a fixed port below the kernel's ephemeral range (see port_outside_ephemeral_range).
DURA_SEED replays a run's kill timing. A longer local run (200 kills: 6 to 9 minutes at the default rate, some
750,000 messages; the restart time grows with the subscriber's stored queue, so a lower DURA_RATE shortens it):
  cd tests/integration && DURA_KILLS=200 NETPIE_EDGE_BIN=$PWD/../../build/dura/gateway/netpie-edge \\
      /usr/bin/python3 run_pytest.py test_durability.py -s
CI (DURA_KILLS=20) takes about 25 s, some 80,000 messages.
"""
from __future__ import annotations

import contextlib
import os
import random
import time

import pytest

from dura_common import check_stream, db_path, integrity_check, mounted_tmpfs, outbox_rows, parse_payload, \
    port_outside_ephemeral_range, session_message_count, start_publishers, stop_daemon, stop_publishers, store_config
from harness import wait_for
from peers import paho_connect

KILLS = int(os.environ.get("DURA_KILLS", "20"))
PUBLISHERS = int(os.environ.get("DURA_PUBLISHERS", "4"))
WINDOW = int(os.environ.get("DURA_WINDOW", "10"))
RATE = float(os.environ.get("DURA_RATE", "1000"))
RATE_16M = float(os.environ.get("DURA_RATE_16M", "200"))
SEED = int(os.environ.get("DURA_SEED", str(random.SystemRandom().randrange(1 << 31))))
DELAY = (0.2, 1.5)  # seconds between "every publisher acknowledged again" and the next SIGKILL
SUB_ID = "dura-sub"
PROGRESS_TIMEOUT = 20.0  # after a restart, every publisher must get an acknowledgement within this


@pytest.mark.netpie_only
@pytest.mark.timeout(180 + 12 * KILLS)
@pytest.mark.parametrize("state_fs", [None, "16m"], ids=["disk", "tmpfs16m"])
def test_no_acknowledged_message_lost_under_sigkill(broker_factory, tmp_path, state_fs):
    """state_fs "16m": the state directory on a 16 MiB tmpfs (root only; skipped otherwise), so the disk bound
    (storage/README.md "Space: the disk bound") is in force while the daemon is killed: every WAL and checkpoint
    happens on a small file system. The rate is cut to DURA_RATE_16M (200/s each) so the run fits it."""
    with contextlib.ExitStack() as stack:
        if state_fs is not None:
            stack.enter_context(mounted_tmpfs(tmp_path / "dura" / "state", state_fs))
        run_durability(broker_factory, tmp_path, RATE if state_fs is None else min(RATE, RATE_16M))


def run_durability(broker_factory, tmp_path, rate: float) -> None:
    rng = random.Random(SEED)
    print(f"\ndurability: seed DURA_SEED={SEED}, kills {KILLS}, publishers {PUBLISHERS}, window {WINDOW}, "
          f"rate {rate}/s each")
    b = broker_factory(name="dura", start=False, sys_interval=0,
                       limits={"max_queued_messages": 100000000, "max_queued_bytes": "1TiB"},
                       extra={"store": store_config(["dura/#"])})
    b.port = port_outside_ephemeral_range()  # kept by the harness across restarts
    b.start()

    # The persistent subscriber: subscribed before anything is published, then away for the whole run.
    sub = paho_connect(b, "mqttv311", client_id=SUB_ID, clean=False)
    sub.subscribe("dura/#", qos=1)
    sub.disconnect()

    names, procs, logs = start_publishers(b, tmp_path, PUBLISHERS, "dura", WINDOW, rate, drain=10,
                                              max_runtime=60 + 15 * KILLS)
    started = time.monotonic()
    restarts: list[float] = []
    try:
        for k in range(KILLS):
            # Under load: every publisher has been acknowledged since the last restart (a hang fails here).
            base = {n: logs[n].poll() for n in names}

            def progressed() -> bool:
                for p in procs:
                    assert p.poll() is None, f"a publisher exited early ({p.returncode}): {p.stderr.read()[-2000:]}"
                return all(logs[n].poll() > base[n] for n in names)

            try:
                wait_for(progressed, PROGRESS_TIMEOUT, f"every publisher acknowledged after restart {k}")
            except AssertionError:
                raise AssertionError(f"publishers made no progress after restart {k} (acks per publisher "
                                     f"{ {n: logs[n].poll() for n in names} })\n{b.log_tail()}")
            time.sleep(rng.uniform(*DELAY))  # the random moment of the kill is what this test is about
            assert b.alive(), f"netpie-edge died by itself before kill {k + 1}\n{b.log_tail()}"
            b.kill()
            t0 = time.monotonic()
            b.start()  # same port (the harness keeps it), same state_dir
            restarts.append(time.monotonic() - t0)
        base = {n: logs[n].poll() for n in names}
        wait_for(lambda: all(logs[n].poll() > base[n] for n in names), PROGRESS_TIMEOUT,
                 "every publisher acknowledged after the last restart")
    except BaseException:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        raise
    summaries = stop_publishers(procs)
    load_s = time.monotonic() - started
    problems: list[str] = []  # reported at the end, so one failure does not hide the others
    stop_daemon(b, problems, "after the load")  # SIGTERM: exit 0, no sanitizer report

    for n in names:
        logs[n].poll()
    acked = {n: set(logs[n].seqs) for n in names}
    total_acked = sum(len(s) for s in acked.values())
    for s in summaries:
        assert not s["acks_out_of_order"], f"PUBACKs out of order (MQTT 3.1.1 §4.6): {s}"

    # ---- the database after the run ---------------------------------------------------------------------------
    path = db_path(b)
    ic = integrity_check(path)
    assert ic == "ok", f"PRAGMA integrity_check: {ic}"
    rows = outbox_rows(path)
    per_pub: dict[str, list] = {n: [] for n in names}
    errors: list[str] = []
    for r in rows:
        name, seq = parse_payload(r.payload)
        if name not in per_pub or r.origin != name or r.topic != f"dura/{name}":
            errors.append(f"row id {r.id}: origin {r.origin!r}, topic {r.topic!r}, payload {r.payload!r} do not agree")
            continue
        per_pub[name].append((r.id, r.origin_seq, seq))
    stored_dups = 0
    for n in names:
        ids = [x[0] for x in per_pub[n]]
        origin_seqs = [x[1] for x in per_pub[n]]
        if origin_seqs != list(range(1, len(origin_seqs) + 1)):
            bad = next(i for i, v in enumerate(origin_seqs) if v != i + 1)
            errors.append(f"{n}: origin_seq in id order does not count 1, 2, 3 ...: at index {bad}: "
                          f"{origin_seqs[max(0, bad - 3):bad + 3]} (ids {ids[max(0, bad - 3):bad + 3]})")
        chk = check_stream(f"outbox {n}", [x[2] for x in per_pub[n]], WINDOW)
        errors.extend(chk.errors[:10])
        stored_dups += chk.duplicates
        lost = sorted(acked[n] - chk.distinct)
        if lost:
            errors.append(f"{n}: {len(lost)} ACKNOWLEDGED messages are not in the outbox: {lost[:20]}")
        top = max(acked[n], default=0)
        missing = [s for s in range(1, top + 1) if s not in chk.distinct]
        if missing:
            errors.append(f"{n}: gaps below the highest acknowledged seq {top}: {missing[:20]}")
    queued = session_message_count(path, SUB_ID)
    print(f"durability: {KILLS} kills in {load_s:.1f} s (restart to ready: max {max(restarts, default=0):.2f} s, "
          f"mean {sum(restarts) / max(1, len(restarts)):.2f} s); acknowledged {total_acked} messages "
          f"({', '.join(f'{n} {len(acked[n])}' for n in names)}); outbox rows {len(rows)}, of which duplicates "
          f"{stored_dups}; subscriber queue {queued}")
    print("durability: publishers: " + "; ".join(
        f"{s['client_id']} sent {s['sent_up_to']} acked {s['acked']} connects {s['connects']}" for s in summaries))
    assert not errors, "outbox check failed:\n" + "\n".join(errors[:40] + problems)
    assert total_acked > 0

    # ---- (d) the persistent subscriber comes back after one more start ----------------------------------------
    b.start()
    t0 = time.monotonic()
    sub = paho_connect(b, "mqttv311", client_id=SUB_ID, clean=False)
    try:
        assert sub.session_present, "the persistent subscriber's session did not survive the restarts"
        sub.wait_count(queued, timeout=60 + queued / 500)
        drain_s = time.monotonic() - t0
        sub.disconnect()
    finally:
        sub.close()
    with sub.lock:
        got = list(sub.messages)
    streams: dict[str, list[int]] = {n: [] for n in names}
    for m in got:
        name, seq = parse_payload(m.payload)
        assert m.topic == f"dura/{name}" and name in streams, f"unexpected message {m}"
        streams[name].append(seq)
    dups = 0
    for n in names:
        chk = check_stream(f"subscriber {n}", streams[n], WINDOW)
        errors.extend(chk.errors[:10])
        dups += chk.duplicates
        lost = sorted(acked[n] - chk.distinct)
        if lost:
            errors.append(f"subscriber: {len(lost)} ACKNOWLEDGED messages of {n} never delivered: {lost[:20]}")
    print(f"durability: subscriber received {len(got)} messages ({dups} duplicates) in {drain_s:.1f} s")
    assert len(got) == queued, f"subscriber got {len(got)} messages, its stored queue held {queued}\n" + \
        "\n".join(problems)
    assert not errors, "subscriber check failed:\n" + "\n".join(errors[:40] + problems)

    # Every delivery was acknowledged: after a clean stop the session's queue is empty.
    stop_daemon(b, problems, "after the subscriber drained")
    if not any("after the subscriber drained" in p for p in problems):
        left = session_message_count(path, SUB_ID)
        assert left == 0, f"{left} messages still queued for {SUB_ID} after it acknowledged all of them"
    assert integrity_check(path) == "ok"
    assert not problems, "\n\n".join(problems)
