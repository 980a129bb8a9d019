// Storage that never throws: blocked cookies, private modes and full quotas all read as "nothing".
const PREFIX = "kundresa.";

function area(kind) {
  try {
    return kind === "session" ? window.sessionStorage : window.localStorage;
  } catch (_) {
    return null;
  }
}

export function read(kind, name) {
  try {
    return area(kind).getItem(PREFIX + name);
  } catch (_) {
    return null;
  }
}

export function write(kind, name, value) {
  try {
    area(kind).setItem(PREFIX + name, value);
  } catch (_) {
    // Storage refused: the widget keeps working from memory for this page.
  }
}

export function remove(kind, name) {
  try {
    area(kind).removeItem(PREFIX + name);
  } catch (_) {
    // Nothing stored, nothing to remove.
  }
}

export function uuid() {
  if (window.crypto && crypto.randomUUID) {
    try {
      return crypto.randomUUID();
    } catch (_) {
      // randomUUID needs a secure context; fall through to getRandomValues.
    }
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 15) | 64;
  bytes[8] = (bytes[8] & 63) | 128;
  const hex = Array.from(bytes, (b) => (b + 256).toString(16).slice(1)).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
