// Opens N MQTT.js connections (a bounded number connecting at a time), each subscribing to one topic; once all are
// subscribed one more client publishes a single QoS 1 broadcast; every subscriber must receive it exactly once.
// Prints one JSON line: {connected, subscribed, received, duplicates, ms}.
const mqtt = require('mqtt');

const args = JSON.parse(process.argv[2]);
const url = `mqtt://${args.host}:${args.port}`;
const n = args.count;
const parallel = args.parallel || 100;
const topic = args.topic || 'bcast/all';
const t0 = Date.now();
const clients = [];
const counts = new Array(n).fill(0);
let subscribed = 0;

function fail(msg) {
  console.log(JSON.stringify({ error: msg, connected: clients.length, subscribed, received: counts.filter((c) => c > 0).length }));
  process.exit(1);
}
setTimeout(() => fail('timeout'), args.timeoutMs || 60000).unref();

function open(i) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { clientId: `many-${i}`, protocolVersion: i % 2 ? 4 : 5, reconnectPeriod: 0,
      connectTimeout: 20000, keepalive: 120 });
    c.once('error', reject);
    c.once('close', () => reject(new Error(`client ${i} closed before subscribing`)));
    c.once('connect', () => {
      c.subscribe(topic, { qos: 1 }, (err, granted) => {
        if (err || !granted || granted[0].qos > 2) return reject(err || new Error(`suback ${JSON.stringify(granted)}`));
        c.removeAllListeners('close');
        subscribed += 1;
        c.on('message', (t, payload) => { if (t === topic && payload.toString() === 'hello-all') counts[i] += 1; });
        resolve(c);
      });
    });
  });
}

async function main() {
  for (let start = 0; start < n; start += parallel) {
    const batch = [];
    for (let i = start; i < Math.min(n, start + parallel); i++) batch.push(open(i));
    clients.push(...(await Promise.all(batch)));
  }
  const pub = await mqtt.connectAsync(url, { clientId: 'many-pub', reconnectPeriod: 0 });
  await pub.publishAsync(topic, 'hello-all', { qos: 1 });
  // A marker after the broadcast: once every client has it, nothing more of the broadcast is in flight.
  const marker = new Promise((resolve) => {
    let seen = 0;
    clients.forEach((c) => c.on('message', (t, p) => { if (p.toString() === 'END' && ++seen === n) resolve(); }));
  });
  await pub.publishAsync(topic, 'END', { qos: 1 });
  await marker;
  const received = counts.filter((c) => c >= 1).length;
  const duplicates = counts.filter((c) => c > 1).length;
  console.log(JSON.stringify({ connected: clients.length, subscribed, received, duplicates, ms: Date.now() - t0 }));
  await pub.endAsync();
  await Promise.all(clients.map((c) => c.endAsync()));
  process.exit(0);
}

main().catch((e) => fail(String(e && e.message ? e.message : e)));
