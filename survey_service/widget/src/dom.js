// A tiny element builder. Text always goes in as text nodes, never as HTML: survey texts come
// from the network and must not be able to inject markup into the page.
import { safe } from "./safe.js";

export function h(tag, attrs, children) {
  const el = document.createElement(tag);
  for (const name in attrs || {}) {
    const value = attrs[name];
    if (value === false || value == null) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), safe(value));
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of [].concat(children || []).flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}
