// The load generator of bench_serve.py: whole sales (assess, decide, confirm) against `suitability serve`
// from one Node.js process, node:http only (no package), one keep-alive connection per concurrent client.
//
// node serve_load.mjs BASE_URL API_KEY SETUP.json
// then one JSON line per batch on stdin: {"clients": N, "sales": S, "prefix": "..."}
// answered by one JSON line on stdout: {"latencies": [seconds per sale, ...]}
import http from "node:http";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const [base, key, setupFile] = process.argv.slice(2);
const setup = JSON.parse(readFileSync(setupFile, "utf8")); // {answers, client, product_id, questionnaire}
const url = new URL(base);

function post(agent, path, body) {
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname, port: url.port, path, method: "POST", agent,
        headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json", "Content-Length": data.length },
      },
      (response) => {
        const chunks = [];
        response.on("data", (c) => chunks.push(c));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (response.statusCode !== 201) reject(new Error(`POST ${path}: ${response.statusCode} ${text}`));
          else resolve(JSON.parse(text));
        });
      },
    );
    request.on("error", reject);
    request.end(data);
  });
}

async function sale(agent, clientId) {
  const client = { ...setup.client, client_id: clientId };
  const a = await post(agent, "/v1/assessments", { questionnaire: setup.questionnaire, answers: setup.answers, client });
  const d = await post(agent, "/v1/decisions", {
    assessment_id: a.id, client, product_id: setup.product_id, initiated_by: "client",
  });
  await post(agent, "/v1/confirmations", {
    decision_id: d.id, acknowledgement: "我已知晓风险，坚持购买", channel: "app", shown_warnings: d.warnings,
  });
}

async function batch({ clients, sales, prefix }) {
  const latencies = [];
  let next = 0;
  async function worker() {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 }); // one connection per client, as an app holds
    try {
      for (let i = next++; i < sales; i = next++) {
        const started = process.hrtime.bigint();
        await sale(agent, `${prefix}-${i}`);
        latencies.push(Number(process.hrtime.bigint() - started) / 1e9);
      }
    } finally {
      agent.destroy();
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
