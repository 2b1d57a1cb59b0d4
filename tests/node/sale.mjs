// A whole sale from a non-Python app: Node.js with its built-in fetch only (no package).
// node sale.mjs BASE_URL API_KEY ANSWERS.json CLIENT.json  -> prints the results and the record with its proof
import { readFileSync } from "node:fs";

const [base, key, answersFile, clientFile] = process.argv.slice(2);
const headers = { Authorization: `Bearer ${key}`, "Content-Type": "application/json", "Accept-Language": "en" };

async function call(method, path, body, expected) {
  const response = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  if (response.status !== expected) {
    throw new Error(`${method} ${path}: expected ${expected}, found ${response.status}: ${text}`);
  }
  return JSON.parse(text);
}

const form = await call("GET", "/v1/questionnaires/cn-securities-individual", undefined, 200);
const answers = JSON.parse(readFileSync(answersFile, "utf8")).answers;
for (const question of form.questions) {
  if (question.required && question.enable_when === null && !(question.id in answers)) {
    throw new Error(`the form asks ${question.id}, which the answers lack`);
  }
}
const client = JSON.parse(readFileSync(clientFile, "utf8"));
const assessment = await call("POST", "/v1/assessments", { questionnaire: `${form.id}@${form.version}`, answers, client }, 201);
const decision = await call(
  "POST", "/v1/decisions",
  { assessment_id: assessment.id, client, product_id: "FUND-EQ-01", initiated_by: "client" }, 201,
);
if (decision.outcome !== "requires_confirmation") throw new Error(`expected requires_confirmation, found ${decision.outcome}`);
const confirmation = await call(
  "POST", "/v1/confirmations",
  {
    decision_id: decision.id, acknowledgement: "I understand the risks and insist on buying",
    channel: "mobile-app", shown_warnings: decision.warnings, language: "en",
  }, 201,
);
let record = null;
for (let attempt = 0; attempt < 200; attempt++) {  // the service signs a checkpoint every so often
  record = await call("GET", `/v1/records/${confirmation.id}`, undefined, 200);
  if (record.proof !== null) break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const checkpoint = await (await fetch(base + "/v1/checkpoint", { headers })).text();
console.log(JSON.stringify({ form: form.id, assessment, decision, confirmation, record, checkpoint }));
