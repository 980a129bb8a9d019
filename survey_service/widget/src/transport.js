// Talking to the survey service. Every call resolves or rejects quietly: the host page never
// sees an uncaught error, and a slow service never blocks it (no synchronous requests).
import { safe } from "./safe.js";

const TIMEOUT_MS = 8000;
const RETRY_DELAYS_MS = [1000, 3000, 9000, 27000, 60000];

export function createTransport(base, siteKey) {
  const pending = new Map();
  // The shop's server-made signature of the signed-in customer's id (Kundresa.identify).
  let signature = null;

  function url(path, params) {
    const query = new URLSearchParams(Object.assign({ site_key: siteKey }, params || {}));
    return `${base}${path}?${query}`;
  }

  function setSignature(value) {
    signature = value || null;
  }

  function request(path, options, params) {
    const controller = window.AbortController ? new AbortController() : null;
    const timer = controller && setTimeout(() => controller.abort(), TIMEOUT_MS);
    const init = Object.assign({ credentials: "omit", mode: "cors" }, options);
    if (controller) init.signal = controller.signal;
    return fetch(url(path, params), init).finally(() => clearTimeout(timer));
  }

  function getJSON(path, params) {
    return request(path, { method: "GET" }, params).then((res) => {
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return res.json();
    });
  }

  function postJSON(path, body, keepalive) {
    const headers = { "Content-Type": "application/json", "X-Site-Key": siteKey };
    if (signature) headers["X-Identity-Signature"] = signature;
    return request(path, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      keepalive: !!keepalive,
    });
  }

  // sendBeacon cannot set headers: the site key (and the signature) go in the query and the
  // body is text/plain.
  function beacon(path, body) {
    try {
      const params = signature ? { identity_signature: signature } : null;
      if (navigator.sendBeacon && navigator.sendBeacon(url(path, params), JSON.stringify(body))) return;
    } catch (_) {
      // Fall through to a keepalive fetch.
    }
    postJSON(path, body, true).catch(() => {});
  }

  // A response keeps its client-made id across retries, so the server stores it once.
  function sendResponse(body, attempt = 0) {
    pending.set(body.response_id, body);
    postJSON("/v1/responses", body)
      .then((res) => {
        // 2xx stored or duplicate, 409 conflict, 4xx invalid: retrying cannot help.
        if (res.status >= 500 || res.status === 429) throw new Error(`HTTP ${res.status}`);
        pending.delete(body.response_id);
      })
      .catch(() => {
        if (attempt >= RETRY_DELAYS_MS.length) return pending.delete(body.response_id);
        const delay = RETRY_DELAYS_MS[attempt] * (0.75 + Math.random() / 2);
        setTimeout(safe(() => sendResponse(body, attempt + 1)), delay);
      });
  }

  // On page hide, whatever is still unsent goes by beacon; the server's idempotency makes a
  // beacon racing an in-flight retry harmless.
  function flushPending() {
    pending.forEach((body) => beacon("/v1/responses", body));
    pending.clear();
  }

  return { getJSON, postJSON, beacon, sendResponse, flushPending, setSignature };
}
