#!/usr/bin/env node
// The judge: Microsoft's typed Graph SDK for JavaScript (Kiota: @microsoft/msgraph-sdk for v1.0,
// @microsoft/msgraph-beta-sdk for beta, on @microsoft/msgraph-sdk-core), against a running vpptoken-sandbox.
// Microsoft publishes no typed request builders for deviceAppManagement in JavaScript, so requests are built as
// Kiota's generated builders build them (RequestInformation with a URI template, the SDK's own serializers and
// parsers, its ODataError mapping) and sent through the SDK's GraphRequestAdapter with its default middleware
// (RetryHandler, RedirectHandler, ...). spec/judge_kiota_spec.lua starts the sandbox over HTTPS, runs this script
// and asserts on what it prints.
//
//   node kiota.mjs BASE_URL TOKEN     (BASE_URL: https://127.0.0.1:PORT, trusted through NODE_EXTRA_CA_CERTS)
//
// Prints one JSON object on stdout: for each contract point (a key), what the SDK saw. It never decides pass or
// fail itself: the spec does. It exits 0 when it could report, 1 (with the reason on stderr) when not.
import { createRequire } from "node:module";
import {
  BaseBearerTokenAuthenticationProvider, HttpMethod, RequestInformation,
} from "@microsoft/kiota-abstractions";
import { BatchRequestContent, PageIterator } from "@microsoft/msgraph-sdk-core";
import { GraphRequestAdapter } from "@microsoft/msgraph-sdk";
import * as v1 from "@microsoft/msgraph-sdk/models/index.js";
import { createODataErrorFromDiscriminatorValue } from "@microsoft/msgraph-sdk/models/oDataErrors/index.js";
import { GraphBetaRequestAdapter } from "@microsoft/msgraph-beta-sdk";
import * as beta from "@microsoft/msgraph-beta-sdk/models/index.js";

const require = createRequire(import.meta.url);
// Every request from here is bounded: node's fetch has no overall timeout of its own.
const REQUEST_TIMEOUT_MS = 60000;

const [base, token] = process.argv.slice(2);
// A sample Apple token file (the spec makes it): the sandbox refuses a token that is not one, as Intune does.
const APPLE_TOKEN = process.env.JUDGE_APPLE_TOKEN;
if (!base || !token || !/^https:\/\/[^/]+$/.test(base)) {
  process.stderr.write("usage: node kiota.mjs BASE_URL TOKEN\n");
  process.exit(2);
}
const control = require("./control.js")(base, REQUEST_TIMEOUT_MS);

// The token for every request, as a Kiota AccessTokenProvider gives it; hosts: the sandbox only.
const host = new URL(base).hostname;
const auth = new BaseBearerTokenAuthenticationProvider({
  getAuthorizationToken: async () => token,
  getAllowedHostsValidator: () => ({ isUrlHostValid: (url) => new URL(url).hostname === host }),
});
const adapters = { v1: new GraphRequestAdapter(auth), beta: new GraphBetaRequestAdapter(auth) };
adapters.v1.baseUrl = base + "/v1.0";
adapters.beta.baseUrl = base + "/beta";
const ERRORS = { XXX: createODataErrorFromDiscriminatorValue };

// The URI templates of Kiota's generated builders for these paths.
const COLL = "{+baseurl}/deviceAppManagement/vppTokens{?%24count,%24filter,%24orderby,%24search,%24select,%24skip,%24top}";
const ITEM = "{+baseurl}/deviceAppManagement/vppTokens/{vppToken%2Did}{?%24expand,%24select}";
const SYNC = "{+baseurl}/deviceAppManagement/vppTokens/{vppToken%2Did}/syncLicenses";

function request(method, template, id, query) {
  const ri = new RequestInformation(method, template, id ? { "vppToken%2Did": id } : {});
  for (const [k, v] of Object.entries(query || {})) ri.queryParameters["%24" + k] = v;
  ri.headers.tryAdd("Accept", "application/json");
  return ri;
}

function withBody(ri, adapter, models, body) {
  ri.setContentFromParsable(adapter, "application/json", body, models.serializeVppToken);
  return ri;
}

function send(adapter, ri, factory) {
  return factory ? adapter.send(ri, factory, ERRORS) : adapter.sendNoResponseContent(ri, ERRORS);
}

// What an ODataError (or any other failure) carries that a user's code reads.
function failure(e) {
  if (e && e.responseStatusCode !== undefined) {
    const main = e.errorEscaped; // ODataError's "error" member (Kiota renames it: Error has no such field)
    return { statusCode: e.responseStatusCode, code: main ? main.code : null, message: main ? main.message : null,
             requestId: main && main.innerError ? main.innerError.requestId || null : null };
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

function newToken(n, extra) {
  return { organizationName: "Judge " + n, appleId: `judge${n}@contoso.com`, token: APPLE_TOKEN, ...extra };
}

async function create(n, version = "v1", extra = {}) {
  const models = version === "v1" ? v1 : beta;
  const ri = withBody(request(HttpMethod.POST, COLL), adapters[version], models, newToken(n, extra));
  return send(adapters[version], ri, models.createVppTokenFromDiscriminatorValue);
}

function iso(d) {
  return d instanceof Date ? d.toISOString() : d === undefined ? "undefined" : d;
}

// Create, get, list, update, sync, delete and a get after the delete, through the v1.0 models.
async function checkCrud() {
  await control("POST", "reset");
  const out = {};
  const created = await create(1);
  out.create = { id: created.id, organizationName: created.organizationName, state: created.state,
                 lastSyncStatus: created.lastSyncStatus, vppTokenAccountType: created.vppTokenAccountType,
                 expirationDateTime: iso(created.expirationDateTime), odataType: created.odataType,
                 automaticallyUpdateApps: created.automaticallyUpdateApps };
  const got = await send(adapters.v1, request(HttpMethod.GET, ITEM, created.id), v1.createVppTokenFromDiscriminatorValue);
  out.get = { id: got.id, appleId: got.appleId };
  const list = await send(adapters.v1, request(HttpMethod.GET, COLL), v1.createVppTokenCollectionResponseFromDiscriminatorValue);
  out.list = { ids: list.value.map((t) => t.id), nextLink: list.odataNextLink || null };
  const patch = withBody(request(HttpMethod.PATCH, ITEM, created.id), adapters.v1, v1, { automaticallyUpdateApps: true });
  const patched = await send(adapters.v1, patch);
  out.update = { returned: patched === undefined ? "undefined" : typeof patched };
  const after = await send(adapters.v1, request(HttpMethod.GET, ITEM, created.id), v1.createVppTokenFromDiscriminatorValue);
  out.after_update = { automaticallyUpdateApps: after.automaticallyUpdateApps,
                       lastModifiedDateTime: iso(after.lastModifiedDateTime) };
  const synced = await attempt(() => send(adapters.v1, request(HttpMethod.POST, SYNC, created.id),
                                          v1.createVppTokenFromDiscriminatorValue));
  out.sync = synced.ok ? { ok: true, id: synced.value.id, lastSyncStatus: synced.value.lastSyncStatus }
    : synced.error;
  const deleted = await attempt(() => send(adapters.v1, request(HttpMethod.DELETE, ITEM, created.id)));
  out.delete = deleted.ok ? { ok: true } : deleted.error;
  const gone = await attempt(() => send(adapters.v1, request(HttpMethod.GET, ITEM, created.id),
                                        v1.createVppTokenFromDiscriminatorValue));
  out.get_after_delete = gone.ok ? { ok: true } : gone.error;
  return out;
}

// $top as the page size and the SDK's PageIterator walking @odata.nextLink to the end.
async function checkPaging() {
  await control("POST", "reset");
  const ids = [];
  for (let i = 1; i <= 5; i++) ids.push((await create(i)).id);
  const first = await send(adapters.v1, request(HttpMethod.GET, COLL, null, { top: 2 }),
                           v1.createVppTokenCollectionResponseFromDiscriminatorValue);
  const seen = [];
  const walker = new PageIterator(adapters.v1, first, (t) => { seen.push(t.id); return seen.length < 50; },
                                  v1.createVppTokenCollectionResponseFromDiscriminatorValue, ERRORS);
  await walker.iterate();
  return { first_page: first.value.length, next_link: first.odataNextLink || null, collected: seen.length,
           distinct: new Set(seen).size, all_created: ids.every((id) => seen.includes(id)),
           state: walker.getPagingState() };
}

// $select, $filter, $orderby and $count through the template's query parameters.
async function checkQuery() {
  await control("POST", "reset");
  for (const n of [1, 2, 3]) await create(n);
  const page = await send(adapters.v1, request(HttpMethod.GET, COLL, null, {
    select: ["id", "organizationName"], filter: "organizationName ne 'Judge 2'", orderby: ["organizationName desc"],
    count: true,
  }), v1.createVppTokenCollectionResponseFromDiscriminatorValue);
  return { count: page.odataCount, names: page.value.map((t) => t.organizationName),
           appleIds: page.value.map((t) => t.appleId === undefined ? "undefined" : t.appleId) };
}

// The beta models: appleDeviceAppDeliveryProtocolType on create and read, and v1.0 not knowing it.
async function checkBeta() {
  await control("POST", "reset");
  const made = await create(1, "beta", { appleDeviceAppDeliveryProtocolType: "declarativeDeviceManagement",
                                         displayName: "Beta judge", roleScopeTagIds: ["0", "7"] });
  const got = await send(adapters.beta, request(HttpMethod.GET, ITEM, made.id), beta.createVppTokenFromDiscriminatorValue);
  const plain = await create(2, "beta");
  const v1Refused = await attempt(() => create(3, "v1", { additionalData: { appleDeviceAppDeliveryProtocolType: "default" } }));
  return { created: made.appleDeviceAppDeliveryProtocolType, read: got.appleDeviceAppDeliveryProtocolType,
           displayName: got.displayName, roleScopeTagIds: got.roleScopeTagIds,
           default_value: plain.appleDeviceAppDeliveryProtocolType,
           v1: v1Refused.ok ? { ok: true } : v1Refused.error };
}

// Graph errors as the SDK maps them to ODataError: a 400 for a bad body, a 404 for an unknown id.
async function checkErrors() {
  await control("POST", "reset");
  const bad = await attempt(() => create(1, "v1", { state: "bogus" }));
  const missing = await attempt(() => send(adapters.v1, request(HttpMethod.GET, ITEM, "00000000-0000-0000-0000-000000000000"),
                                           v1.createVppTokenFromDiscriminatorValue));
  return { bad_body: bad.ok ? { ok: true } : bad.error, missing: missing.ok ? { ok: true } : missing.error };
}

// The SDK's own $batch (BatchRequestContent, BatchResponseContent): a create and a list in one request. Its
// BatchRequestStep leaves out each step's headers (msgraph-sdk-core 1.0.0-preview.17), so the create goes without
// Content-Type: Graph answers such a write step 400, and so must the sandbox, without running it.
async function checkBatch() {
  await control("POST", "reset");
  const batch = new BatchRequestContent(adapters.v1, ERRORS);
  batch.addBatchRequest(withBody(request(HttpMethod.POST, COLL), adapters.v1, v1, newToken(7)), "create");
  batch.addBatchRequest(request(HttpMethod.GET, COLL), "list");
  const sent = batch.getContent().requests.map((r) => ({ id: r.id, method: r.method, url: r.url,
                                                         headers: r.headers === undefined ? "undefined" : r.headers }));
  const res = await batch.postAsync();
  const step = res.getResponseById("create");
  const failed = res.getParsableResponseById("create", createODataErrorFromDiscriminatorValue);
  const list = res.getParsableResponseById("list", v1.createVppTokenCollectionResponseFromDiscriminatorValue);
  const after = await send(adapters.v1, request(HttpMethod.GET, COLL),
                           v1.createVppTokenCollectionResponseFromDiscriminatorValue);
  return { sent, create_status: step.status, create_error: failed && failed.errorEscaped ?
           { code: failed.errorEscaped.code, message: failed.errorEscaped.message } : null,
           list_status: res.getResponseById("list").status, listed: list ? list.value.length : null,
           tokens_after: after.value.length };
}

// The SDK's RetryHandler after a 429 with Retry-After.
async function checkRetry() {
  await control("POST", "reset");
  await control("POST", "faults", { count: 1, status: 429, retry_after: "1" });
  const t0 = Date.now();
  const r = await attempt(() => send(adapters.v1, request(HttpMethod.GET, COLL),
                                     v1.createVppTokenCollectionResponseFromDiscriminatorValue));
  const log = (await control("GET", "requests")).value;
  return { ok: r.ok, error: r.ok ? null : r.error, waited_ms: Date.now() - t0,
           statuses: log.map((e) => e.status), retry_attempt: log.map((e) => e.headers["retry-attempt"] || null) };
}

async function main() {
  const checks = { crud: checkCrud, paging: checkPaging, query: checkQuery, beta: checkBeta, errors: checkErrors,
                   batch: checkBatch, retry: checkRetry };
  const only = process.env.JUDGE_ONLY ? process.env.JUDGE_ONLY.split(",") : Object.keys(checks);
  const result = { node: process.versions.node };
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
  process.stderr.write("kiota.mjs: " + (e && e.stack ? e.stack : String(e)) + "\n");
  process.exit(1);
});
