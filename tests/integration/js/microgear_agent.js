// One NETPIE microgear (the official `microgear` npm package, 0.8.1, unmodified) driven by a test:
// pointed at the gateway with setConfig('GEARAUTH', host) and useTLS(false) (or useTLS(true) with "tls": true:
// gearauth on 8081 over HTTPS, MQTT on 8883 over TLS, the CA given by NODE_EXTRA_CA_CERTS), it prints every event as
// one JSON line on stdout and takes commands as JSON lines on stdin. The library's own API is all it
// uses; the only peek behind it is an 'error' listener on its MQTT client, to report CONNACK refusals
// (the library itself swallows them).
//
// argv[2]: {"gearauth", "appid", "key", "secret", "alias"?, "cache", "present"?, "absent"?, "tls"?}
// stdin:   {"op": "publish", "topic", "msg", "retain"?} | {"op": "chat", "alias", "msg"}
//          {"op": "subscribe", "topic"} | {"op": "setalias", "alias"}
//          {"op": "writepostbox", "box", "msg"} | {"op": "readpostbox", "box"}
//          {"op": "resettoken"} | {"op": "disconnect"} | {"op": "exit"}
// stdout:  {"ev": "connected" | "disconnected" | "message" | "present" | "absent" | "info" | "error" |
//           "warning" | "rejected" | "subscribed" | "mqtt_error" | "resettoken" | "ready", ...}
const MicroGear = require('microgear');

const args = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const mg = MicroGear.create({ key: args.key, secret: args.secret, alias: args.alias });
mg.setConfig('GEARAUTH', args.gearauth);
mg.useTLS(args.tls === true);
mg.setCachePath(args.cache);

mg.on('connected', () => out({ ev: 'connected', token: mg.clientid }));
mg.on('disconnected', () => out({ ev: 'disconnected' }));
mg.on('message', (topic, msg) => out({ ev: 'message', topic, msg: msg.toString() }));
if (args.present !== false) mg.on('present', (e) => out({ ev: 'present', data: e }));
if (args.absent !== false) mg.on('absent', (e) => out({ ev: 'absent', data: e }));
mg.on('info', (m) => out({ ev: 'info', msg: String(m) }));
mg.on('error', (m) => out({ ev: 'error', msg: String(m) }));
mg.on('warning', (m) => out({ ev: 'warning', msg: String(m) }));
mg.on('rejected', (m) => out({ ev: 'rejected', msg: String(m) }));

// CONNACK refusals reach only the MQTT client's 'error' event, which the library handles by string
// comparison; report the code so the test can see what the gateway answered.
let hooked = null;
setInterval(() => {
  if (mg.client && mg.client !== hooked) {
    hooked = mg.client;
    hooked.on('error', (e) => out({ ev: 'mqtt_error', code: e.code, msg: String(e) }));
  }
}, 10);

const commands = {
  publish: (c) => mg.publish(c.topic, c.msg, c.retain === true),
  chat: (c) => mg.chat(c.alias, c.msg),
  subscribe: (c) => mg.subscribe(c.topic, (ok) => out({ ev: 'subscribed', topic: c.topic, ok })),
  setalias: (c) => mg.setAlias(c.alias),
  writepostbox: (c) => mg.writepostbox(c.box, c.msg),
  readpostbox: (c) => mg.readpostbox(c.box),
  resettoken: () => mg.resetToken((err) => out({ ev: 'resettoken', err: err || null })),
  disconnect: () => mg.disconnect(),
  exit: () => process.exit(0),
};

let buffer = '';
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  let nl;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, nl).trim();
    buffer = buffer.slice(nl + 1);
    if (!line) continue;
    const c = JSON.parse(line);
    try {
      commands[c.op](c);
    } catch (e) {
      out({ ev: 'agent_error', op: c.op, msg: String(e) });
    }
  }
});
process.stdin.on('end', () => process.exit(0));

mg.connect(args.appid);
out({ ev: 'ready' });
