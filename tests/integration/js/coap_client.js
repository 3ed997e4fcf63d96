// node-coap (npm `coap`) driven by the CoAP integration tests. One JSON argument:
//   {mode: "observe", host, port, path, query?, count, timeout_ms}: observes path; prints {"ev":"registered",code}
//      then one {"ev":"message","payload",...} line per notification, then {"ev":"done"} after `count` of them.
//   {mode: "request", host, port, method, path, query?, payload?, confirmable}: one request; prints {"code","payload"}.
//   {mode: "dura", host, port, path, prefix, ackfile, stopfile}: CON publishes of "<prefix>:<seq>" one after the
//      other, seq 1, 2, 3 ...; each 2.04 appends the seq to ackfile; an error or timeout re-sends the same seq; stops
//      when stopfile exists.
const coap = require('coap');
const fs = require('fs');

const a = JSON.parse(process.argv[2]);
coap.updateTiming({ ackTimeout: 0.25, ackRandomFactor: 1.0, maxRetransmit: 3 });
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// node-coap does not always end a request whose server is gone (a killed daemon): a request is given up after
// `a.give_up_ms` (default 5 s) and reported as a timeout.
function request(opts, payload) {
  return new Promise((resolve) => {
    setTimeout(() => resolve({ code: 'timeout', payload: '' }), a.give_up_ms || 5000).unref();
    const req = coap.request({ hostname: a.host, port: a.port, ...opts });
    req.on('response', (res) => resolve({ code: res.code, payload: res.payload.toString() }));
    req.on('error', (e) => resolve({ code: 'error', payload: String(e) }));
    req.on('timeout', () => resolve({ code: 'timeout', payload: '' }));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

async function main() {
  if (a.mode === 'observe') {
    setTimeout(() => { out({ ev: 'timeout' }); process.exit(2); }, a.timeout_ms || 30000).unref();
    const req = coap.request({ hostname: a.host, port: a.port, pathname: a.path, query: a.query || '', observe: true });
    let n = 0;
    req.on('response', (res) => {
      out({ ev: 'registered', code: res.code });
      res.on('data', (chunk) => {
        if (chunk.length === 0) return;  // the registration's own (empty) answer
        out({ ev: 'message', payload: chunk.toString() });
        if (++n >= a.count) {
          out({ ev: 'done' });
          res.close();
          setTimeout(() => process.exit(0), 300);
        }
      });
    });
    req.on('error', (e) => { out({ ev: 'error', error: String(e) }); process.exit(1); });
    req.end();
  } else if (a.mode === 'request') {
    const r = await request({ method: a.method, pathname: a.path, query: a.query || '', confirmable: a.confirmable !== false },
      a.payload);
    out(r);
    process.exit(0);
  } else if (a.mode === 'dura') {
    let seq = 1;
    while (!fs.existsSync(a.stopfile)) {
      const r = await request({ method: 'PUT', pathname: a.path, query: 'qos=1', confirmable: true }, `${a.prefix}:${seq}`);
      if (r.code === '2.04') {
        fs.appendFileSync(a.ackfile, `${seq}\n`);
        seq++;
      } else {
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    out({ ev: 'stopped', seq });
    process.exit(0);
  }
}

main().catch((e) => { out({ ev: 'error', error: String(e) }); process.exit(1); });
