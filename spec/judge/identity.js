#!/usr/bin/env node
// The sign-in judge: Microsoft's identity library for JavaScript (@azure/identity, with MSAL for Node inside), used
// the way its users use it, against a running vpptoken-sandbox. spec/judge_identity_spec.lua starts the sandbox over
// HTTPS with an apps file, writes the judge's configuration, runs this script and asserts on what it prints.
//
//   node identity.js CONFIG.json
//
// CONFIG: {"base": "https://127.0.0.1:PORT" (trusted through NODE_EXTRA_CA_CERTS), "tenant", "scope", "check_ms",
//          "secret": {"client_id", "client_secret"}, "certificate": {"client_id", "pem" (certificate + key)},
//          "workload": {"client_id", "token_file"}, "managed": {"identity_header", "user_client_id"},
//          "device": {"client_id", "upn"}}
//
// Each credential gets a token for config.scope with authorityHost = base and instance discovery off, then calls the
// sandbox's Graph with it. Prints one JSON object on stdout: for each credential (a key), what it saw: never a token
// or a secret, only the token's claims that say whom it is for. It never decides pass or fail itself: the spec
// does. It exits 0 when it could report, 1 (with the reason on stderr) when not.
//
// MSAL picks a process's managed identity source once, from the environment, and keeps it (a static of its
// ManagedIdentityClient), as a process on one host has one. So the IMDS flavour runs in a child process of this
// script (`node identity.js CONFIG.json imds`) with AZURE_POD_IDENTITY_AUTHORITY_HOST in its environment and
// IDENTITY_ENDPOINT out of it; everything else runs here. Both managed identity endpoints are reached over https
// here, as the sandbox serves one scheme at a time; MSAL takes plain http to them too, as on Azure.
"use strict";

const fs = require("fs");
const https = require("https");
const { fork } = require("child_process");
const identity = require("@azure/identity");

const COLL = "/v1.0/deviceAppManagement/vppTokens";
// Every request and every sign-in from here is bounded: neither node's fetch nor MSAL has an overall timeout. A check
// takes at most config.check_ms (the spec scales it under valgrind), so one that hangs is reported, not the run lost.
const REQUEST_TIMEOUT_MS = 60000;
// What the environment may hold that would change which managed identity source MSAL picks, or send
// ManagedIdentityCredential to workload identity instead: cleared before the managed identity checks.
const MSI_ENV = ["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT",
  "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_CLIENT_ID", "AZURE_TENANT_ID",
  "AZURE_FEDERATED_TOKEN_FILE", "DEFAULT_IDENTITY_CLIENT_ID"];

function usage() {
  process.stderr.write("usage: node identity.js CONFIG.json [imds]\n");
  process.exit(2);
}

const [configPath, mode] = process.argv.slice(2);
if (!configPath) usage();
const config = JSON.parse(fs.readFileSync(configPath, "utf8"));
if (typeof config.base !== "string" || !/^https:\/\/[^/]+$/.test(config.base)) usage();
const base = config.base;
const CHECK_MS = Number(config.check_ms) > 0 ? Number(config.check_ms) : 60000;

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(what + " took longer than " + ms + " ms")), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// The sandbox's control routes, with plain fetch (not the library under judgement).
const control = require("./control")(base, REQUEST_TIMEOUT_MS);

// The claims of a compact JWT that say whom it is for (no verification: the sandbox's Graph does that).
function claimsOf(token) {
  const part = typeof token === "string" ? token.split(".")[1] : undefined;
  if (!part) return null;
  const c = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  return { aud: c.aud, tid: c.tid, appid: c.appid, idtyp: c.idtyp, roles: c.roles, scp: c.scp, upn: c.upn };
}

function failure(e) {
  return { name: e && e.name, message: String(e && e.message),
           cause: e && e.cause ? String(e.cause.errorCode || e.cause.code || e.cause.message) : undefined };
}

// A spy on node's https.request, which the library's HTTP pipeline sends every request through (the judge's own
// calls go through fetch, which does not use it): it notes what the library asked the sandbox, "METHOD /path STATUS",
// so the spec sees which endpoints MSAL used.
const seen = [];
const httpsRequest = https.request;
https.request = function spied(...args) {
  const req = httpsRequest.apply(this, args);
  const path = (req.path || "").split("?")[0];
  req.on("response", (res) => seen.push(`${req.method} ${path} ${res.statusCode}`));
  return req;
};

// Signs in with credential, then lists vppTokens on the sandbox's Graph with the token.
async function signIn(credential) {
  const out = {};
  let token;
  try {
    token = await withTimeout(credential.getToken(config.scope), CHECK_MS, "getToken");
  } catch (e) {
    out.error = failure(e);
    return out;
  }
  out.token_type = token.tokenType;
  out.expires_in_future = token.expiresOnTimestamp > Date.now();
  out.claims = claimsOf(token.token);
  const res = await fetch(base + COLL, { headers: { authorization: "Bearer " + token.token },
                                         signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  out.graph_status = res.status;
  await res.text();
  return out;
}

const common = () => ({ authorityHost: base, disableInstanceDiscovery: true });

const checks = {
  async client_secret() {
    const c = config.secret;
    return signIn(new identity.ClientSecretCredential(config.tenant, c.client_id, c.client_secret, common()));
  },

  async client_certificate() {
    const c = config.certificate;
    return signIn(new identity.ClientCertificateCredential(config.tenant, c.client_id, { certificatePath: c.pem },
                                                           common()));
  },

  async workload_identity() {
    const c = config.workload;
    return signIn(new identity.WorkloadIdentityCredential(Object.assign(common(), {
      tenantId: config.tenant, clientId: c.client_id, tokenFilePath: c.token_file })));
  },

  // App Service, Functions, Automation, Container Apps: IDENTITY_ENDPOINT + IDENTITY_HEADER.
  async managed_app_service() {
    for (const k of MSI_ENV) delete process.env[k];
    process.env.IDENTITY_ENDPOINT = base + "/msi/token";
    process.env.IDENTITY_HEADER = config.managed.identity_header;
    return signIn(new identity.ManagedIdentityCredential());
  },

  // A VM's IMDS at the host in AZURE_POD_IDENTITY_AUTHORITY_HOST, in a child process (see the top), for a
  // user-assigned identity (its client id).
  async managed_imds() {
    const env = Object.assign({}, process.env);
    for (const k of MSI_ENV) delete env[k];
    env.AZURE_POD_IDENTITY_AUTHORITY_HOST = base;
    const child = fork(__filename, [configPath, "imds"], { env, stdio: ["ignore", "pipe", "pipe", "ipc"] });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => { stdout += d; });
    child.stderr.on("data", (d) => { stderr += d; });
    const code = await withTimeout(new Promise((resolve) => child.on("exit", resolve)), CHECK_MS + 10000,
                                   "the IMDS child")
      .catch((e) => { child.kill(); throw e; });
    if (code !== 0) throw new Error("the IMDS child exited " + code + ": " + stderr);
    return JSON.parse(stdout).managed_imds;
  },

  // A person at a terminal: the prompt callback gets the user code, which the person (here the sandbox's control
  // route) approves once MSAL is polling; MSAL polls the token endpoint until then (authorization_pending).
  async device_code() {
    const c = config.device;
    await control("POST", "devicecode/settings", { interval: 1 });
    const prompts = [];
    let approval = Promise.resolve(null);
    const person = { done: false };
    const credential = new identity.DeviceCodeCredential(Object.assign(common(), {
      tenantId: config.tenant, clientId: c.client_id,
      userPromptCallback: (info) => {
        prompts.push({ user_code_given: typeof info.userCode === "string" && info.userCode !== "",
                       verification_uri: info.verificationUri,
                       message_has_code: String(info.message).includes(String(info.userCode)) });
        // a failed approval is reported, not left as an unhandled rejection
        approval = approveOncePolled(info.userCode, person).then(() => null, failure);
      },
    }));
    const out = await signIn(credential);
    person.done = true;
    const approvalError = await approval;
    if (approvalError) out.approval_error = approvalError;
    out.prompts = prompts;
    out.codes = (await control("GET", "devicecode")).value.map((d) => ({ status: d.status, polls: d.polls }));
    return out;
  },
};

// The person: waits until the code has been polled at least once, then approves it; gives up when the sign-in
// ended without it (person.done) or after CHECK_MS.
async function approveOncePolled(userCode, person) {
  const deadline = Date.now() + CHECK_MS;
  for (;;) {
    if (person.done || Date.now() > deadline) return;
    const code = (await control("GET", "devicecode")).value.find((d) => d.user_code === userCode);
    if (code && code.polls >= 1) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await control("POST", "devicecode/approve", { user_code: userCode, upn: config.device.upn });
}

async function main() {
  if (mode === "imds") {
    // Only the IMDS flavour, in the child's own environment (see the top).
    const out = await signIn(new identity.ManagedIdentityCredential({ clientId: config.managed.user_client_id }));
    out.requests = seen;
    process.stdout.write(JSON.stringify({ managed_imds: out }) + "\n");
    return;
  }
  const result = { node: process.versions.node };
  const only = process.env.JUDGE_ONLY ? process.env.JUDGE_ONLY.split(",") : Object.keys(checks);
  for (const name of only) {
    try {
      result[name] = await checks[name]();
    } catch (e) {
      result[name] = { threw: failure(e) };
    }
    if (!result[name].requests) result[name].requests = seen.splice(0);
    seen.length = 0;
  }
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((e) => {
  process.stderr.write("identity.js: " + (e && e.stack ? e.stack : String(e)) + "\n");
  process.exit(1);
});
