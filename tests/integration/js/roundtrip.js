// MQTT.js publish/subscribe round trip: one subscriber and one publisher at the given protocol version; the
// subscriber takes QoS subQos, the publisher sends `count` messages at pubQos then END. Prints one JSON line with
// what the subscriber received ([topic, payload, qos, retain]) and the publisher's CONNACK.
const mqtt = require('mqtt');

const a = JSON.parse(process.argv[2]);
const url = `mqtt://${a.host}:${a.port}`;
const opts = { protocolVersion: a.version, reconnectPeriod: 0, connectTimeout: 5000 };

async function main() {
  setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(2); }, 20000).unref();
  const sub = await mqtt.connectAsync(url, { ...opts, clientId: `js-sub-${a.version}-${a.pubQos}${a.subQos}` });
  const received = [];
  const done = new Promise((resolve) => {
    sub.on('message', (topic, payload, packet) => {
      if (payload.toString() === 'END') return resolve();
      received.push([topic, payload.toString('hex'), packet.qos, packet.retain]);
    });
  });
  const granted = await sub.subscribeAsync(a.topic, { qos: a.subQos });
  const pub = await mqtt.connectAsync(url, { ...opts, clientId: `js-pub-${a.version}-${a.pubQos}${a.subQos}` });
  for (let i = 0; i < a.count; i++) {
    await pub.publishAsync(a.topic, Buffer.from(`js ${i} ${'\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35'}`), { qos: a.pubQos });
  }
  await pub.publishAsync(a.topic, 'END', { qos: a.pubQos });
  await done;
  console.log(JSON.stringify({ received, granted: granted.map((g) => g.qos) }));
  await pub.endAsync();
  await sub.endAsync();
}

main().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
