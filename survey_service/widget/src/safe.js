// Everything the widget runs from the browser's event loop (listeners, timers, public calls)
// goes through here: an error in the widget must never reach the host page's window.onerror,
// its console or its error tracker.
export function safe(fn) {
  return function () {
    try {
      return fn.apply(this, arguments);
    } catch (_) {
      return undefined;
    }
  };
}
