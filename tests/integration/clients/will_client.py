"""A paho-mqtt client with a last will, run as a subprocess so a test can SIGKILL it.

Usage: will_client.py JSON  with keys host, port, version (mqttv31|mqttv311|mqttv5), client_id, will_topic,
will_payload, will_qos, will_retain, will_delay, session_expiry and clean_start (v5, optional).
Prints CONNECTED once the broker accepted it, then reads commands from stdin: "disconnect" (clean DISCONNECT,
reason 0), "disconnect-with-will" (v5 reason 0x04), "exit". Prints DONE after a clean disconnect.
"""
import json
import sys
import threading

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCodes

args = json.loads(sys.argv[1])
proto = {"mqttv31": paho.MQTTv31, "mqttv311": paho.MQTTv311, "mqttv5": paho.MQTTv5}[args["version"]]
v5 = proto == paho.MQTTv5
if v5:
    c = paho.Client(client_id=args["client_id"], protocol=proto)
else:
    c = paho.Client(client_id=args["client_id"], clean_session=True, protocol=proto)

will_props = None
if v5 and args.get("will_delay") is not None:
    will_props = Properties(PacketTypes.WILLMESSAGE)
    will_props.WillDelayInterval = int(args["will_delay"])
c.will_set(args["will_topic"], args["will_payload"], qos=int(args.get("will_qos", 1)),
           retain=bool(args.get("will_retain", False)), properties=will_props)

connected = threading.Event()
disconnected = threading.Event()


def on_connect(client, userdata, flags, rc, properties=None):
    if (rc.value if hasattr(rc, "value") else rc) == 0:
        connected.set()
    else:
        print(f"REFUSED {rc}", flush=True)
        sys.exit(2)


c.on_connect = on_connect
c.on_disconnect = lambda *a: disconnected.set()
kwargs = {}
if v5:
    props = Properties(PacketTypes.CONNECT)
    if args.get("session_expiry") is not None:
        props.SessionExpiryInterval = int(args["session_expiry"])
    kwargs = {"clean_start": bool(args.get("clean_start", True)), "properties": props}
c.connect(args["host"], int(args["port"]), keepalive=int(args.get("keepalive", 60)), **kwargs)
c.loop_start()
if not connected.wait(10):
    print("NO-CONNACK", flush=True)
    sys.exit(3)
print("CONNECTED", flush=True)

for line in sys.stdin:
    cmd = line.strip()
    if cmd == "disconnect":
        c.disconnect(reasoncode=ReasonCodes(PacketTypes.DISCONNECT, "Normal disconnection") if v5 else None)
    elif cmd == "disconnect-with-will":
        c.disconnect(reasoncode=ReasonCodes(PacketTypes.DISCONNECT, "Disconnect with will message"))
    elif cmd == "exit":
        break
    else:
        continue
    disconnected.wait(10)
    c.loop_stop()
    print("DONE", flush=True)
    break
