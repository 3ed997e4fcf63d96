// MQTT.js v5 topic aliases both ways through the broker.
// The publisher uses autoAssignTopicAlias (so MQTT.js replaces the topic with an alias once the broker's CONNACK
// allowed it); the subscriber sets topicAliasMaximum so the broker may alias towards it. Prints one JSON line.
const mqtt = require('mqtt');

const args = JSON.parse(process.argv[2]);
const url = `mqtt://${args.host}:${args.port}`;
const n = args.count || 10;
const base = { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000 };

function connect(opts) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { ...base, ...opts });
    c.once('connect', (connack) => resolve([c, connack]));
    c.once('error', reject);
  });
}

async function main() {
  const timer = setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(2); }, 20000);
  const [sub, subAck] = await connect({ clientId: 'js-alias-sub', properties: { topicAliasMaximum: 10 } });
  const received = [];
  const incomingAliases = [];
  sub.on('packetreceive', (p) => {
    if (p.cmd === 'publish' && p.properties && p.properties.topicAlias) incomingAliases.push(p.properties.topicAlias);
  });
  const done = new Promise((resolve) => {
    sub.on('message', (topic, payload) => {
      received.push([topic, payload.toString()]);
      if (topic === 'alias/js/end') resolve();
    });
  });
  await sub.subscribeAsync('alias/js/#', { qos: 1 });

  const [pub, pubAck] = await connect({ clientId: 'js-alias-pub', autoAssignTopicAlias: true });
  let sentAliasOnly = 0;
  let sentWithAlias = 0;
  pub.on('packetsend', (p) => {
    if (p.cmd === 'publish' && p.properties && p.properties.topicAlias) {
      sentWithAlias += 1;
      if (!p.topic) sentAliasOnly += 1;
    }
  });
  for (let i = 0; i < n; i++) await pub.publishAsync('alias/js/x', `m${i}`, { qos: 1 });
  await pub.publishAsync('alias/js/end', 'END', { qos: 1 });
  await done;
  clearTimeout(timer);
  console.log(JSON.stringify({
    received,
    incomingAliases,
    sentWithAlias,
    sentAliasOnly,
    pubTopicAliasMaximum: (pubAck.properties || {}).topicAliasMaximum || 0,
    subConnackProperties: subAck.properties || {},
  }));
  await pub.endAsync();
  await sub.endAsync();
}

main().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
