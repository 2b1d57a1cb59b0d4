// The load generator of bench_serve.py: whole sales (assess, decide, confirm) against `suitability serve`
// from one Node.js process, node:net only (no package): one keep-alive HTTP/1.1 connection per concurrent
// client, requests written and responses read by the few lines below (a status line, headers, a body of
// Content-Length bytes), so that the clients take as little of the host's CPU as a load generator can.
//
// node serve_load.mjs BASE_URL API_KEY SETUP.json
// then one JSON line per batch on stdin: {"clients": N, "sales": S, "prefix": "..."}
// answered by one JSON line on stdout: {"latencies": [seconds per sale, ...]}
import net from "node:net";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const [base, key, setupFile] = process.argv.slice(2);
const setup = JSON.parse(readFileSync(setupFile, "utf8")); // {answers, client, product_id, questionnaire}
const url = new URL(base);
const HEAD_END = Buffer.from("\r\n\r\n");

class Connection {
  constructor() {
    this.socket = net.connect({ host: url.hostname, port: Number(url.port) });
    this.socket.setNoDelay(true);
    this.buffer = Buffer.alloc(0);
    this.waiting = null;
    this.socket.on("data", (chunk) => this.received(chunk));
    this.socket.on("error", (error) => this.waiting?.reject(error));
    this.socket.on("close", () => this.waiting?.reject(new Error("the server closed the connection")));
  }

  post(path, body) {
    const data = Buffer.from(JSON.stringify(body));
    const head =
      `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${data.length}\r\n\r\n`;
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject, path };
      this.socket.write(Buffer.concat([Buffer.from(head), data]));
    });
  }

  received(chunk) {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const end = this.buffer.indexOf(HEAD_END);
    if (end < 0) return;
    const head = this.buffer.subarray(0, end).toString("latin1");
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) return this.waiting.reject(new Error(`no Content-Length in ${head}`));
    const total = end + 4 + Number(length[1]);
    if (this.buffer.length < total) return;
    const status = Number(head.slice(9, 12));
    const text = this.buffer.subarray(end + 4, total).toString("utf8");
    this.buffer = this.buffer.subarray(total);
    const { resolve, reject, path } = this.waiting;
    this.waiting = null;
    if (status !== 201) reject(new Error(`POST ${path}: ${status} ${text}`));
    else resolve(JSON.parse(text));
  }

  close() {
    this.socket.destroy();
  }
}

async function sale(connection, clientId) {
  const client = { ...setup.client, client_id: clientId };
  const a = await connection.post("/v1/assessments", { questionnaire: setup.questionnaire, answers: setup.answers, client });
  const d = await connection.post("/v1/decisions", {
    assessment_id: a.id, client, product_id: setup.product_id, initiated_by: "client",
  });
  await connection.post("/v1/confirmations", {
    decision_id: d.id, acknowledgement: "我已知晓风险，坚持购买", channel: "app", shown_warnings: d.warnings,
  });
}

async function batch({ clients, sales, prefix }) {
  const latencies = [];
  let next = 0;
  async function worker() {
    const connection = new Connection(); // one connection per client, as an app holds one
    try {
      for (let i = next++; i < sales; i = next++) {
        const started = process.hrtime.bigint();
        await sale(connection, `${prefix}-${i}`);
        latencies.push(Number(process.hrtime.bigint() - started) / 1e9);
      }
    } finally {
      connection.close();
    }
  }
  await Promise.all(Array.from({ length: clients }, worker));
  return { latencies };
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  try {
    process.stdout.write(JSON.stringify(await batch(JSON.parse(line))) + "\n");
  } catch (error) {
    process.stdout.write(JSON.stringify({ error: String(error) }) + "\n");
  }
}
