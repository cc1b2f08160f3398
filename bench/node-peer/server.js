'use strict';
// Node.js peer of bench/run (issue 5): the same order flow as bench-relay on
// Fastify + undici (keep-alive Pool to the upstream) + opossum (breaker around the payment
// call). A yardstick, not part of the product.
//
//   node server.js [--listen HOST:PORT] --upstream http://HOST:PORT
//   (or LISTEN / UPSTREAM in the environment; port 0 = any free port)
// Prints {"msg":"listening","address":"HOST:PORT"} once bound.

const Fastify = require('fastify');
const { Pool } = require('undici');
const CircuitBreaker = require('opossum');

function arg(name, envName, dflt) {
  const i = process.argv.indexOf(name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  return process.env[envName] || dflt;
}

const listen = arg('--listen', 'LISTEN', '127.0.0.1:0');
const upstream = arg('--upstream', 'UPSTREAM', '');
if (!upstream) {
  console.error('usage: node server.js [--listen HOST:PORT] --upstream http://HOST:PORT');
  process.exit(2);
}
const colon = listen.lastIndexOf(':');
const host = listen.slice(0, colon);
const port = Number(listen.slice(colon + 1));

const prices = { Latte: 400, Espresso: 250, Cappuccino: 350, Tea: 200 };
const deltas = { 'Pumpkin Spice': 50, Vanilla: 30, Hazelnut: 40, 'Double Shot': 100 };
const money = (cents) => `${Math.trunc(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;

const pool = new Pool(upstream, {
  connections: 64,
  pipelining: 1,
  keepAliveTimeout: 60_000,
  keepAliveMaxTimeout: 600_000,
});

async function pay(body, orderId) {
  const { statusCode, body: resBody } = await pool.request({
    method: 'POST',
    path: '/api/v1/payment',
    headers: { 'content-type': 'application/json', 'idempotency-key': orderId },
    body,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  const text = await resBody.text();
  if (statusCode !== 200) {
    const err = new Error(`payment service answered ${statusCode}`);
    err.statusCode = statusCode;
    throw err;
  }
  return JSON.parse(text);
}

const breaker = new CircuitBreaker(pay, {
  timeout: 10_000,
  errorThresholdPercentage: 50,
  resetTimeout: 30_000,
  volumeThreshold: 10,
});

let seq = 0;
const salt = (process.pid * 65536 + (Date.now() & 0xffff)).toString(16).padStart(8, '0').slice(-8);

const app = Fastify({ logger: false, keepAliveTimeout: 60_000, bodyLimit: 65536 });

app.get('/healthz', async () => ({ status: 'ok' }));

app.post('/api/v1/orders', async (req, reply) => {
  const order = req.body;
  if (!order || typeof order !== 'object' || !Array.isArray(order.items) || order.items.length === 0)
    return reply.code(422).send({ error: 'items: must be a non-empty array' });
  let total = 0;
  for (const item of order.items) {
    const base = item && prices[item.product];
    const qty = item && Number.isInteger(item.quantity) ? item.quantity : 1;
    if (base === undefined || qty < 1 || qty > 100)
      return reply.code(422).send({ error: 'items: unknown product or bad quantity' });
    total += (base + (deltas[item.variation] || 0)) * qty;
  }
  const currency = typeof order.currency === 'string' ? order.currency : 'USD';
  const paymentMethod = typeof order.paymentMethod === 'string' ? order.paymentMethod : 'credit_card';
  const id = `ord_${salt}${(++seq).toString(16).padStart(12, '0')}`;
  // Money as a JSON number with two decimals, written by hand (like the relay).
  const body = `{"orderId":"${id}","amount":${money(total)},"currency":${JSON.stringify(currency)},` +
               `"paymentMethod":${JSON.stringify(paymentMethod)}}`;
  let paid;
  try {
    paid = await breaker.fire(body, id);
  } catch (err) {
    if (breaker.opened) return reply.code(503).send({ error: 'payment circuit open' });
    return reply.code(502).send({ error: String(err.message || err) });
  }
  reply.code(201).header('location', `/api/v1/orders/${id}`);
  return { id, status: 'waiting', total: Number(money(total)), currency,
           payment: { status: 'succeeded', reference: paid.reference || '' } };
});

app.listen({ host, port }).then(() => {
  const a = app.server.address();
  process.stdout.write(JSON.stringify({ msg: 'listening', address: `${a.address}:${a.port}` }) + '\n');
}).catch((err) => {
  console.error(err);
  process.exit(1);
});

for (const sig of ['SIGTERM', 'SIGINT'])
  process.on(sig, () => { app.close().finally(() => pool.close().finally(() => process.exit(0))); });
