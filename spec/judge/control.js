// The sandbox's control routes (/_sandbox/...), with plain fetch: never the library under judgement. Shared by the
// judges (graph_client.js, identity.js).
"use strict";

// control(base, timeoutMs)(method, path [, body]): the route's JSON answer (null when empty); throws on a status
// that is not 2xx.
module.exports = function control(base, timeoutMs) {
  return async function (method, path, body) {
    const res = await fetch(base + "/_sandbox/" + path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`control ${method} ${path}: ${res.status} ${text}`);
    return text === "" ? null : JSON.parse(text);
  };
};
