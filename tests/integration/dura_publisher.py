"""One durability-test publisher (run as its own process under /usr/bin/python3; paho-mqtt 1.6).

Publishes QoS 1 payloads "<client_id>:<seq>" with seq 1, 2, 3 ... strictly increasing to one topic, at most
`--window` unacknowledged at a time. Every seq whose PUBACK arrived is appended to `--acks` as one line and flushed
at once, so the record survives whatever happens to the broker. When the broker disappears (SIGKILL) the same paho
client reconnects (to the same host and port) and paho re-sends every unacknowledged message, in order, before any
new one: at-least-once, so the broker may store a message twice but must never lose one it acknowledged.

Stop with SIGTERM: no new message is started; the ones in flight get up to --drain seconds to be acknowledged
(reconnecting if needed); then a clean DISCONNECT. The last stdout line is a JSON summary. --max-runtime bounds the
whole run so an orphaned publisher cannot live forever.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import signal
import sys
import time

import paho.mqtt.client as paho

RECONNECT_PAUSE = 0.02  # between refused TCP connects while the broker restarts (a poll interval, not a wait)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--acks", required=True, help="file that gets one line per acknowledged seq")
    ap.add_argument("--window", type=int, default=10, help="unacknowledged messages at most")
    ap.add_argument("--rate", type=float, default=0.0, help="messages per second at most (0 = no limit)")
    ap.add_argument("--drain", type=float, default=10.0)
    ap.add_argument("--max-runtime", type=float, default=900.0)
    args = ap.parse_args()

    # Stop with the test process that started us (pytest killed by a timeout leaves no publisher behind).
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
    signal.signal(signal.SIGINT, lambda *_: stop.__setitem__("flag", True))

    acks_file = open(args.acks, "a", buffering=1)
    state = {"connected": False, "connects": 0, "disconnects": 0, "acked": 0, "connack_failures": 0}
    outstanding: dict[int, int] = {}  # paho mid -> seq
    last_acked = {"seq": 0}
    out_of_order: list[tuple[int, int]] = []

    c = paho.Client(client_id=args.client_id, clean_session=True, protocol=paho.MQTTv311)
    c.max_inflight_messages_set(args.window)
    c.max_queued_messages_set(0)

    def on_connect(client, userdata, flags, rc):
        if rc == 0:
            state["connected"] = True
            state["connects"] += 1
        else:
            state["connack_failures"] += 1

    def on_disconnect(client, userdata, rc):
        state["connected"] = False
        state["disconnects"] += 1

    def on_publish(client, userdata, mid):
        seq = outstanding.pop(mid, None)
        if seq is None:
            return
        if seq <= last_acked["seq"]:
            out_of_order.append((last_acked["seq"], seq))
        last_acked["seq"] = max(last_acked["seq"], seq)
        acks_file.write(f"{seq}\n")  # line buffered: flushed now
        state["acked"] += 1

    c.on_connect = on_connect
    c.on_disconnect = on_disconnect
    c.on_publish = on_publish

    started = time.monotonic()
    deadline = started + args.max_runtime
    drain_deadline = None
    next_seq = 1
    first = True
    need_connect = True
    next_send_at = 0.0
    while time.monotonic() < deadline:
        if stop["flag"] and drain_deadline is None:
            drain_deadline = time.monotonic() + args.drain
        if drain_deadline is not None and (not outstanding or time.monotonic() > drain_deadline):
            break
        if need_connect:
            try:
                if first:
                    c.connect(args.host, args.port, keepalive=10)
                    first = False
                else:
                    c.reconnect()  # paho marks every unacknowledged message for re-sending after CONNACK
                need_connect = False
            except OSError:
                time.sleep(RECONNECT_PAUSE)
                continue
        rc = c.loop(timeout=0.01)
        if rc != paho.MQTT_ERR_SUCCESS:  # connection lost (or refused): reconnect
            state["connected"] = False
            need_connect = True
            continue
        if not state["connected"]:
            continue
        while (drain_deadline is None and not stop["flag"] and len(outstanding) < args.window
               and (args.rate <= 0 or time.monotonic() >= next_send_at)):
            if args.rate > 0:
                next_send_at = max(next_send_at, time.monotonic() - 0.05) + 1.0 / args.rate
            info = c.publish(args.topic, f"{args.client_id}:{next_seq}".encode(), qos=1)
            if info.rc != paho.MQTT_ERR_SUCCESS:  # the connection just went; paho keeps it for re-sending
                outstanding[info.mid] = next_seq
                next_seq += 1
                break
            outstanding[info.mid] = next_seq
            next_seq += 1
    try:
        if state["connected"]:
            c.disconnect()
            c.loop(timeout=0.1)
    except Exception:
        pass
    acks_file.close()
    summary = {"client_id": args.client_id, "sent_up_to": next_seq - 1, "acked": state["acked"],
               "last_acked": last_acked["seq"], "unacked_at_exit": sorted(outstanding.values()),
               "connects": state["connects"], "disconnects": state["disconnects"],
               "connack_failures": state["connack_failures"], "acks_out_of_order": out_of_order[:20],
               "runtime_s": round(time.monotonic() - started, 2)}
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
