// When a visitor seems to be leaving a non-empty cart. Exit intent only exists on desktop
// (a pointer leaving toward the top of the window); on touch devices we watch for the page
// being hidden and coming back, or for the visitor going idle, on cart and checkout pages.
import { safe } from "./safe.js";

export function isTouchDevice() {
  return !!(window.matchMedia && matchMedia("(hover: none) and (pointer: coarse)").matches);
}

export function watchAbandonment(cart, idleSeconds, fire) {
  const cleanups = [];
  const on = (target, type, handler, options) => {
    const listener = safe(handler);
    target.addEventListener(type, listener, options);
    cleanups.push(() => target.removeEventListener(type, listener, options));
  };
  const stop = () => cleanups.splice(0).forEach((undo) => undo());
  const trigger = (how) => {
    stop();
    fire(how);
  };

  if (!isTouchDevice()) {
    on(document, "mouseout", (event) => {
      if (!event.relatedTarget && event.clientY <= 0) trigger("exit_intent");
    });
    return stop;
  }
  if (cart.page !== "cart" && cart.page !== "checkout") return stop;

  let wasHidden = false;
  on(document, "visibilitychange", () => {
    if (document.visibilityState === "hidden") wasHidden = true;
    else if (wasHidden) trigger("visibility");
  });
  if (idleSeconds > 0) {
    let timer;
    const reset = () => {
      clearTimeout(timer);
      timer = setTimeout(safe(() => trigger("idle")), idleSeconds * 1000);
    };
    ["touchstart", "scroll", "keydown", "pointerdown"].forEach((type) =>
      on(window, type, reset, { passive: true, capture: true }),
    );
    cleanups.push(() => clearTimeout(timer));
    reset();
  }
  return stop;
}
