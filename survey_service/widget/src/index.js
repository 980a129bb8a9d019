// Kundresa's survey widget: one async script tag with data-site-key, and a small API for the
// shop's own code. Calls made before this script loaded wait in a stub array of
// [method, ...args] entries and are replayed here. Nothing here may throw into the host page.
import { landingChannel } from "./channel.js";
import { detectLocale, strings } from "./locale.js";
import { safe } from "./safe.js";
import { read, remove, uuid, write } from "./storage.js";
import { createTransport } from "./transport.js";
import { isTouchDevice, watchAbandonment } from "./triggers.js";
import { openSurvey } from "./view.js";

const EVENT_FIELDS = ["stage", "channel", "product_category", "value", "cart_id", "order_id"];
const BATCH_SIZE = 20;
const MAX_QUEUED = 500;
// A beacon (and a keepalive fetch) may carry at most 64 KB: send the queue in slices.
const SLICE = 100;
const FLUSH_MS = 5000;

function start(script) {
  const attr = (name) => script.getAttribute(`data-${name}`);
  const siteKey = attr("site-key");
  if (!siteKey) return null;
  // The API lives beside widget.js unless data-api says otherwise.
  const base = (attr("api") || script.src.replace(/\/widget(\.[\w-]+)?\.js([?#].*)?$/, "")).replace(/\/$/, "");
  const requireConsent = script.hasAttribute("data-require-consent") && attr("require-consent") !== "false";
  const idleSeconds = Number(attr("idle-seconds") || 30);
  const accent = /^#[0-9a-f]{3,8}$/i.test(attr("accent") || "") ? attr("accent") : null;
  const api = createTransport(base, siteKey);
  const device = isTouchDevice() ? "mobile" : "desktop";

  let consented = !requireConsent || read("local", "consent") === "1";
  let memoryVisitor = null;
  let customerId = null;
  // Whether the shop's server signed customerId: only then do events and answers carry it
  // (the service refuses an unsigned customer id from a browser on sites that require it).
  let customerSigned = false;
  let serviceDown = false;
  let open = false;
  let stopWatching = () => {};
  const checked = {};
  const events = [];
  let flushTimer = null;

  // A random id in first-party storage, made only once storing is allowed.
  function visitorId() {
    if (!consented) return null;
    let id = read("local", "vid") || memoryVisitor;
    if (!id) {
      id = uuid();
      write("local", "vid", id);
    }
    memoryVisitor = id;
    return id;
  }

  function quiet(promise) {
    return promise.catch((error) => {
      // Unreachable (TypeError) or too slow (AbortError): stay silent for the rest of the page.
      if (error && (error.name === "TypeError" || error.name === "AbortError")) serviceDown = true;
    });
  }

  // Events go in slices; a slice that failed goes back to the queue for the next flush, and
  // whatever is left when the page hides goes by beacon.
  function flush(useBeacon) {
    clearTimeout(flushTimer);
    flushTimer = null;
    if (!consented || !events.length || (serviceDown && !useBeacon)) return;
    const visitor = visitorId();
    const batch = events.splice(0, SLICE).map((event) => Object.assign({ visitor_id: visitor }, event));
    if (useBeacon) {
      api.beacon("/v1/events", { events: batch });
      return flush(true);
    }
    const requeue = () => events.unshift(...batch);
    quiet(
      api.postJSON("/v1/events", { events: batch }, true).then(
        (res) => {
          if (res.status >= 500 || res.status === 429) return requeue();
          if (events.length) flush();
        },
        (error) => {
          requeue();
          throw error;
        },
      ),
    );
  }

  function track(type, props) {
    if (typeof type !== "string" || !type) return;
    const extra = Object.assign({}, props);
    const event = { event_id: uuid(), type, occurred_at: new Date().toISOString(), device };
    if (customerId && customerSigned) event.customer_id = customerId;
    EVENT_FIELDS.forEach((field) => {
      if (extra[field] != null) event[field] = field === "value" ? Number(extra[field]) : String(extra[field]);
      delete extra[field];
    });
    if (Object.keys(extra).length) event.properties = extra;
    if (events.length >= MAX_QUEUED) events.shift();
    events.push(event);
    if (events.length >= BATCH_SIZE) flush();
    else if (!flushTimer) flushTimer = setTimeout(safe(flush), FLUSH_MS);
  }

  // options.signature: hex HMAC-SHA256 of the id with the site's identity secret, made by the
  // shop's server (never the secret itself in the page).
  function identify(id, options) {
    if (id == null || id === "") return;
    const signature = options && typeof options.signature === "string" ? options.signature : null;
    // Queued events were made for the previous customer: send them before switching.
    if (customerId && customerId !== String(id) && events.length) flush();
    customerId = String(id);
    customerSigned = !!signature;
    api.setSignature(signature);
    link();
  }

  function link() {
    const visitor = visitorId();
    if (visitor && !serviceDown) quiet(api.postJSON("/v1/identify", { visitor_id: visitor, customer_id: customerId }));
  }

  // What the page knows about this moment, for the survey's trigger: the moment itself
  // (purchase with an order, else a page view unless the caller says), the page and the cart.
  // The page goes without its query and fragment: those may carry personal data.
  function moment(visitor, opts) {
    const context = {
      visitor_id: visitor,
      event: String(opts.event || (opts.orderId ? "purchase" : "page_view")),
      page_url: (location.origin + location.pathname).slice(0, 2000),
      device,
    };
    if (opts.stage) context.stage = String(opts.stage);
    if (opts.cartItems != null && Number(opts.cartItems) >= 0) context.cart_items = Math.floor(Number(opts.cartItems));
    return context;
  }

  // The survey funnel's "started": the first answer typed or chosen in the dialog (its input
  // events leave the shadow root retargeted to the host), told once per offer.
  function reportStart(key, visitor) {
    const onInput = safe((event) => {
      if (!event.target || event.target.tagName !== "KUNDRESA-SURVEY") return;
      document.removeEventListener("input", onInput, true);
      quiet(api.postJSON(`/v1/surveys/${encodeURIComponent(key)}/started`, { visitor_id: visitor }, true));
    });
    document.addEventListener("input", onInput, true);
  }

  // Eligibility first (the service applies the trigger, sampling and fatigue); one survey per visit.
  function show(key, options) {
    const opts = options || {};
    const visitor = visitorId();
    if (!visitor || open || serviceDown || checked[key] || read("session", "shown")) return;
    // A browser without <dialog> could not show it: do not spend the visitor's impression.
    if (!window.HTMLDialogElement) return;
    checked[key] = true;
    open = true;
    const locale = detectLocale();
    quiet(
      api
        .getJSON(`/v1/surveys/${encodeURIComponent(key)}/eligibility`, moment(visitor, opts))
        .then((answer) => {
          if (!answer.eligible) throw new Error("not eligible");
          return api.getJSON(`/v1/surveys/${encodeURIComponent(key)}`, { locale });
        })
        .then((survey) => {
          if (read("session", "shown")) throw new Error("already shown");
          write("session", "shown", key);
          reportStart(key, visitor);
          openSurvey(survey, strings(survey.locale || locale), {
            accent,
            onSubmit(answers, honeypot) {
              const body = {
                response_id: uuid(),
                survey_key: key,
                visitor_id: visitor,
                locale: survey.locale || locale,
                answers,
              };
              if (customerId && customerSigned) body.customer_id = customerId;
              if (opts.stage) body.stage = String(opts.stage);
              if (opts.cartId) body.cart_id = String(opts.cartId);
              if (opts.orderId) body.order_id = String(opts.orderId);
              if (honeypot) body.website = honeypot;
              api.sendResponse(body);
            },
            onClose() {
              open = false;
            },
          });
        })
        .catch((error) => {
          open = false;
          throw error;
        }),
    );
  }

  // The shop tells us its cart on each page: {cartId, items, value, page: "cart" | "checkout"}.
  function cart(state) {
    stopWatching();
    const current = state || {};
    if (!(Number(current.items) > 0)) return;
    stopWatching = watchAbandonment(current, idleSeconds, () =>
      show("cart_abandonment", {
        event: "exit_intent",
        cartItems: current.items,
        cartId: current.cartId,
        stage: current.stage || (current.page === "checkout" ? "purchase" : "desire"),
      }),
    );
  }

  function consent(granted) {
    consented = !!granted;
    if (consented) {
      write("local", "consent", "1");
      flush();
      // A customer named before consent is linked to the visitor only now.
      if (customerId) link();
    } else {
      events.length = 0;
      memoryVisitor = null;
      ["consent", "vid"].forEach((name) => remove("local", name));
      remove("session", "shown");
    }
  }

  const onHide = safe(() => {
    flush(true);
    api.flushPending();
  });
  window.addEventListener("pagehide", onHide);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") onHide();
  });

  const methods = { identify, track, show, cart, consent };
  if (attr("page-views") !== "false") {
    let channel = null;
    try {
      channel = landingChannel(location.href, document.referrer);
    } catch (_) {
      // An odd URL or referrer: the page view goes without a channel.
    }
    track("page_view", { path: location.pathname, channel });
  }
  return methods;
}

function install() {
  const existing = window.Kundresa;
  if (existing && existing.loaded) return;
  const script = document.currentScript || document.querySelector("script[data-site-key]");
  const methods = script && start(script);
  if (!methods) return;
  const api = { loaded: true, version: "1" };
  // Every public call is guarded: a bug or a bad argument must never reach the host page.
  for (const name in methods) api[name] = safe(methods[name]);
  // Array-style calls keep working after load: Kundresa.push(["show", "post_purchase", {...}]).
  api.push = safe((call) => {
    if (call && api[call[0]] && call[0] !== "push") api[call[0]].apply(null, [].slice.call(call, 1));
  });
  window.Kundresa = api;
  if (Array.isArray(existing)) existing.forEach(api.push);
}

try {
  install();
} catch (_) {
  // Silent by design: the host page must work without us.
}
