// MQTT.js over ws:// or wss:// against the gateway, round trip with the TCP side: subscribes `<topic>/down/#`
// over WebSocket, has mosquitto_pub send `count` lines there over TCP, publishes `count` messages (one of them
// `big` bytes, so it spans frames and reads) to `<topic>/up/<i>`, and prints what came down, the sub-protocol
// the server chose and the CONNACK. The test checks with its own mosquitto_sub what went up.
const { execFileSync } = require('child_process');
const fs = require('fs');
const mqtt = require('mqtt');
const WebSocket = require('ws');

const a = JSON.parse(process.argv[2]);

async function main() {
  setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(2); }, 30000).unref();
  const opts = { protocolVersion: a.version, reconnectPeriod: 0, connectTimeout: 10000, clientId: a.clientId };
  if (a.protocolId) opts.protocolId = a.protocolId;
  opts.wsOptions = a.ca ? { ca: fs.readFileSync(a.ca) } : {};
  // MQTT.js builds its socket with the `ws` package, as here; keeping it shows the sub-protocol chosen.
  let socket = null;
  opts.createWebsocket = (url, protocols, o) => (socket = new WebSocket(url, protocols, o.wsOptions));
  const c = await mqtt.connectAsync(a.url, opts);
  const subprotocol = socket.protocol;
  const down = [];
  const gotAll = new Promise((resolve) => {
    c.on('message', (topic, payload) => {
      down.push([topic, payload.toString()]);
      if (down.length === a.count) resolve();
    });
  });
  const granted = await c.subscribeAsync(`${a.topic}/down/#`, { qos: a.qos });
  const lines = Array.from({ length: a.count }, (_, i) => `down ${i}`).join('\n') + '\n';
  execFileSync('mosquitto_pub', ['-h', a.tcpHost, '-p', String(a.tcpPort), '-t', `${a.topic}/down/x`, '-q', '1', '-l'],
               { input: lines, timeout: 20000 });
  for (let i = 0; i < a.count; i++) {
    const payload = i === 1 ? Buffer.alloc(a.big, 'b') : Buffer.from(`up ${i}`);
    await c.publishAsync(`${a.topic}/up/${i}`, payload, { qos: a.qos });
  }
  await gotAll;
  await c.endAsync();
  console.log(JSON.stringify({ down, granted: granted.map((g) => g.qos), subprotocol }));
}

main().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
