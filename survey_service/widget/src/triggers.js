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
  let timer;
  const idle = idleSeconds > 0;
  // Idle means no touch, scroll, typing or focus change for idleSeconds while the page is in
  // view: a visitor still reading or filling in the cart page is not leaving. The clock stops
  // while the page is hidden (coming back is its own signal) and never fires while the
  // visitor is typing in a field.
  const arm = () => {
    clearTimeout(timer);
    if (!idle || document.visibilityState === "hidden") return;
    timer = setTimeout(safe(() => {
      const field = document.activeElement;
      if (field && /^(INPUT|TEXTAREA|SELECT)$/.test(field.tagName)) return arm();
      trigger("idle");
    }), idleSeconds * 1000);
  };
  on(document, "visibilitychange", () => {
    if (document.visibilityState === "hidden") {
      wasHidden = true;
      clearTimeout(timer);
    } else if (wasHidden) trigger("visibility");
  });
  if (idle) {
    ["touchstart", "touchmove", "scroll", "wheel", "keydown", "pointerdown", "input", "focusin"].forEach((type) =>
      on(window, type, arm, { passive: true, capture: true }),
    );
    cleanups.push(() => clearTimeout(timer));
    arm();
  }
  return stop;
}
