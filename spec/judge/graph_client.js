#!/usr/bin/env node
// The judge: Microsoft's own JavaScript Graph client (@microsoft/microsoft-graph-client), used the way its users
// use it, against a running vpptoken-sandbox. spec/judge_graph_client_spec.lua starts the sandbox (over HTTPS: the
// client sends its token only to https:// hosts), runs this script and asserts on what it prints.
//
//   node graph_client.js BASE_URL TOKEN     (BASE_URL: https://127.0.0.1:PORT, trusted through NODE_EXTRA_CA_CERTS)
//
// Prints one JSON object on stdout: for each contract point (a key), what the client saw. It never decides
// pass or fail itself: the spec does. It exits 0 when it could report, 1 (with the reason on stderr) when not.
"use strict";

const graph = require("@microsoft/microsoft-graph-client");

const COLL = "/deviceAppManagement/vppTokens";
// Every request from here is bounded: node's fetch has no overall timeout of its own.
const REQUEST_TIMEOUT_MS = 60000;

function usage() {
  process.stderr.write("usage: node graph_client.js BASE_URL TOKEN\n");
  process.exit(2);
}

const [base, token] = process.argv.slice(2);
// A sample Apple token file (the spec makes it): the sandbox refuses a token that is not one, as Intune does.
const APPLE_TOKEN = process.env.JUDGE_APPLE_TOKEN;
if (!base || !token || !/^https:\/\/[^/]+$/.test(base)) usage();
const host = new URL(base).hostname;

const client = graph.Client.init({
  authProvider: (done) => done(null, token),
  baseUrl: base + "/",
  defaultVersion: "v1.0",
  customHosts: new Set([host]),
});

// A fresh abort signal per request (the client passes fetchOptions to fetch).
function bounded(request) {
  return request.option("signal", AbortSignal.timeout(REQUEST_TIMEOUT_MS));
}

// The sandbox's control routes, with plain fetch (not the client under judgement).
const control = require("./control")(base, REQUEST_TIMEOUT_MS);

// What a GraphError carries that a user's code reads.
function failure(e) {
  if (e instanceof graph.GraphError) {
    return { statusCode: e.statusCode, code: e.code, message: e.message,
             hsts: e.headers ? e.headers.get("strict-transport-security") : null };
  }
  return { statusCode: null, name: e && e.name, message: String(e && e.message) };
}

async function attempt(fn) {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    return { ok: false, error: failure(e) };
  }
}

function newToken(n) {
  return { organizationName: "Judge " + n, appleId: `judge${n}@contoso.com`, token: APPLE_TOKEN };
}

async function createTokens(count) {
  const ids = [];
  for (let i = 1; i <= count; i++) {
    const t = await bounded(client.api(COLL)).post(newToken(i));
    ids.push(t.id);
  }
  return ids;
}

// $top is a page size: .top(2) over more tokens answers 2 and a nextLink; PageIterator walks to the end.
async function checkTop() {
  await control("POST", "reset");
  const ids = await createTokens(5);
  const first = await bounded(client.api(COLL).top(2)).get();
  const seen = [];
  const walker = new graph.PageIterator(client, first, (t) => {
    seen.push(t.id);
    return seen.length < 100; // a bound of our own, far past what the sandbox holds
  });
  await walker.iterate();
  return { created: ids.length, first_page: first.value.length, next_link: first["@odata.nextLink"] || null,
           collected: seen.length, distinct: new Set(seen).size,
           all_created: ids.every((id) => seen.includes(id)) };
}

// A batch step's Request: BatchRequestContent strips only the scheme and host from its URL, so (as in the
// client's issue #1451, for 3.0.7) the URL leaves out the version segment: BASE/deviceAppManagement/...
function step(id, method, init) {
  return { id, request: new Request(base + COLL, Object.assign({ method }, init || {})) };
}

// A $batch sub-request with a body needs Content-Type: without it, 400 and not run; with it, it runs.
async function checkBatchContentType() {
  await control("POST", "reset");
  const out = {};
  // node's Request adds "text/plain;charset=UTF-8" to a string body, so the step without a Content-Type goes as
  // a $batch body of its own, through the client.
  const bare = await bounded(client.api("/$batch")).post({ requests: [
    { id: "1", method: "POST", url: COLL, body: newToken(1) } ] });
  const bareResponse = new graph.BatchResponseContent(bare).getResponseById("1");
  out.without = { status: bareResponse.status, body: await bareResponse.json() };
  out.tokens_after_without = (await bounded(client.api(COLL)).get()).value.length;
  const content = new graph.BatchRequestContent([step("1", "POST", {
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(newToken(2)) })]);
  const answered = await bounded(client.api("/$batch")).post(await content.getContent());
  const r = new graph.BatchResponseContent(answered).getResponseById("1");
  out.with = { status: r.status, body: await r.json() };
  out.tokens_after_with = (await bounded(client.api(COLL)).get()).value.length;
  return out;
}

// A step URL with the version segment (https://HOST/v1.0/...) reaches the batch as /v1.0/...: Graph answers that
// sub-request 400 "Resource not found for the segment 'v1.0'." (the client's issue #1178).
async function checkBatchVersionSegment() {
  await control("POST", "reset");
  const content = new graph.BatchRequestContent([
    { id: "1", request: new Request(base + "/v1.0" + COLL, { method: "GET" }) }]);
  const body = await content.getContent();
  const answered = await bounded(client.api("/$batch")).post(body);
  const r = new graph.BatchResponseContent(answered).getResponseById("1");
  return { url: body.requests[0].url, status: r.status, body: await r.json() };
}

// $batch ids are compared without regard to case: "a" and "A" in one batch are a 400 for the whole batch.
async function checkBatchIds() {
  await control("POST", "reset");
  const content = new graph.BatchRequestContent([step("a", "GET"), step("A", "GET")]);
  const dup = await attempt(async () => bounded(client.api("/$batch")).post(await content.getContent()));
  const distinct = new graph.BatchRequestContent([step("a", "GET"), step("b", "GET")]);
  const ok = await bounded(client.api("/$batch")).post(await distinct.getContent());
  const statuses = {};
  for (const [id, res] of new graph.BatchResponseContent(ok).getResponses()) statuses[id] = res.status;
  return { duplicate: dup.ok ? { ok: true } : dup.error, distinct: statuses };
}

// On /beta, the query options without "$" are honoured.
async function checkBetaNoDollar() {
  await control("POST", "reset");
  await createTokens(3);
  const page = await bounded(client.api(COLL).version("beta").query("top=2&select=organizationName")).get();
  const v1 = await bounded(client.api(COLL).query("top=2&select=organizationName")).get();
  return { count: page.value.length, next_link: page["@odata.nextLink"] || null,
           keys: page.value.map((t) => Object.keys(t).sort().join(",")),
           context: page["@odata.context"], v1_count: v1.value.length };
}

// Over TLS every answer carries Strict-Transport-Security, errors too.
async function checkHsts() {
  const raw = await bounded(client.api(COLL).responseType(graph.ResponseType.RAW)).get();
  const missing = await attempt(() => bounded(client.api(COLL + "/00000000-0000-0000-0000-000000000000")).get());
  return { ok_status: raw.status, ok_hsts: raw.headers.get("strict-transport-security"),
           error_status: missing.ok ? null : missing.error.statusCode,
           error_hsts: missing.ok ? null : missing.error.hsts };
}

// A middleware of our own between the RetryHandler and the network: it notes each answer the RetryHandler gets.
class Spy {
  constructor() { this.seen = []; }
  setNext(next) { this.next = next; }
  async execute(context) {
    await this.next.execute(context);
    this.seen.push({ status: context.response.status, retry_after: context.response.headers.get("retry-after"),
                     at_ms: Date.now() });
  }
}

// The RetryHandler waits out the sandbox's 429 + Retry-After, then the request succeeds. The client is built
// with initWithMiddleware, as users do to put their own middleware in the chain.
async function checkRetry() {
  await control("POST", "reset");
  const spy = new Spy();
  const auth = new graph.AuthenticationHandler({ getAccessToken: async () => token });
  const retry = new graph.RetryHandler(new graph.RetryHandlerOptions());
  auth.setNext(retry);
  retry.setNext(spy);
  spy.setNext(new graph.HTTPMessageHandler());
  const retrying = graph.Client.initWithMiddleware({ middleware: auth, baseUrl: base + "/",
                                                     customHosts: new Set([host]) });
  await control("POST", "faults", { count: 1, status: 429, retry_after: "2" });
  const list = await attempt(() => bounded(retrying.api(COLL)).get());
  const log = (await control("GET", "requests")).value.filter((e) => e.path.indexOf("/_sandbox/") !== 0);
  return { ok: list.ok, error: list.ok ? null : list.error,
           answers: spy.seen.map((a) => ({ status: a.status, retry_after: a.retry_after })),
           waited_ms: spy.seen.length === 2 ? spy.seen[1].at_ms - spy.seen[0].at_ms : null,
           statuses: log.map((e) => e.status),
           retry_attempt: log.map((e) => (e.headers && e.headers["retry-attempt"]) || null) };
}

// List, get, create, update, syncLicenses and delete through the client, with Graph's shapes.
async function checkCrud() {
  await control("POST", "reset");
  const out = {};
  const created = await bounded(client.api(COLL)).post(newToken(1));
  out.create = { id: created.id, context: created["@odata.context"], organizationName: created.organizationName };
  const got = await bounded(client.api(COLL + "/" + created.id)).get();
  out.get = { id: got.id, context: got["@odata.context"] };
  const list = await bounded(client.api(COLL)).get();
  out.list = { context: list["@odata.context"], ids: list.value.map((t) => t.id) };
  const patched = await bounded(client.api(COLL + "/" + created.id)).patch({ automaticallyUpdateApps: true });
  out.update = { returned: patched === undefined ? "undefined" : patched };
  const rep = await bounded(client.api(COLL + "/" + created.id).header("Prefer", "return=representation"))
    .patch({ countryOrRegion: "gb" });
  out.update_representation = { context: rep["@odata.context"], countryOrRegion: rep.countryOrRegion,
                                automaticallyUpdateApps: rep.automaticallyUpdateApps };
  const synced = await attempt(() => bounded(client.api(COLL + "/" + created.id + "/syncLicenses")).post({}));
  out.sync = synced.ok ? { ok: true, context: synced.value && synced.value["@odata.context"],
                           id: synced.value && synced.value.id,
                           lastSyncStatus: synced.value && synced.value.lastSyncStatus } : synced.error;
  const deleted = await attempt(() => bounded(client.api(COLL + "/" + created.id)).delete());
  out.delete = deleted.ok ? { ok: true } : deleted.error;
  const gone = await attempt(() => bounded(client.api(COLL + "/" + created.id)).get());
  out.get_after_delete = gone.ok ? { ok: true } : gone.error;
  return out;
}

async function main() {
  const checks = { crud: checkCrud, top: checkTop, batch_content_type: checkBatchContentType,
                   batch_version_segment: checkBatchVersionSegment, batch_ids: checkBatchIds, beta_no_dollar: checkBetaNoDollar, hsts: checkHsts,
                   retry: checkRetry };
  const only = process.env.JUDGE_ONLY ? process.env.JUDGE_ONLY.split(",") : Object.keys(checks);
  // @azure/identity is here for the sign-in judges: it must load on the Node.js the project supports.
  const identity = require("@azure/identity");
  const result = { node: process.versions.node, identity_loads: typeof identity.ClientSecretCredential === "function" };
  for (const name of only) {
    try {
      result[name] = await checks[name]();
    } catch (e) {
      result[name] = { threw: failure(e) };
    }
  }
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((e) => {
  process.stderr.write("graph_client.js: " + (e && e.stack ? e.stack : String(e)) + "\n");
  process.exit(1);
});
