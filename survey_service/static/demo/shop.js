// The demo shop's own code: a cart in the shop's localStorage, and the calls a real shop would
// make to the widget. Kundresa.* is called through window every time, because the async widget
// replaces the queueing stub when it loads.
(function () {
  "use strict";
  var KEY = "nordvik-demo-cart";
  var page = document.body.getAttribute("data-page");

  function load() {
    try {
      return JSON.parse(localStorage.getItem(KEY)) || { id: null, lines: [] };
    } catch (e) {
      return { id: null, lines: [] };
    }
  }
  function save(cart) {
    localStorage.setItem(KEY, JSON.stringify(cart));
  }
  function total(cart) {
    return cart.lines.reduce(function (sum, line) { return sum + line.price; }, 0);
  }
  function randomId(prefix) {
    return prefix + Math.random().toString(36).slice(2, 10);
  }
  // Tell the widget what the cart looks like on this page; it arms the abandonment trigger.
  function announce(cart) {
    window.Kundresa.cart({
      cartId: cart.id,
      items: cart.lines.length,
      value: total(cart),
      page: page === "cart" || page === "checkout" ? page : "product",
    });
  }
  function render(cart) {
    document.querySelectorAll("[data-cart-count]").forEach(function (el) {
      el.textContent = String(cart.lines.length);
    });
    document.querySelectorAll("[data-cart-total]").forEach(function (el) {
      el.textContent = String(total(cart));
    });
    document.querySelectorAll("[data-needs-items]").forEach(function (el) {
      el.hidden = cart.lines.length === 0;
    });
    var list = document.querySelector("[data-cart-lines]");
    if (list) {
      list.textContent = "";
      cart.lines.forEach(function (line) {
        var item = document.createElement("li");
        item.textContent = line.name + " — " + line.price + " kr";
        list.appendChild(item);
      });
      document.querySelector("[data-cart-empty]").hidden = cart.lines.length > 0;
    }
  }

  // The shop's consent banner (only with ?consent=required): the widget stores nothing and
  // sends nothing until the shop calls Kundresa.consent(true).
  var banner = document.querySelector("[data-consent-banner]");
  if (banner) {
    var CONSENT_KEY = "nordvik-demo-consent";
    var given = localStorage.getItem(CONSENT_KEY);
    if (given === "yes") window.Kundresa.consent(true);
    else if (!given) banner.hidden = false;
    banner.querySelectorAll("[data-consent]").forEach(function (button) {
      button.addEventListener("click", function () {
        var yes = button.getAttribute("data-consent") === "yes";
        localStorage.setItem(CONSENT_KEY, yes ? "yes" : "no");
        window.Kundresa.consent(yes);
        banner.hidden = true;
      });
    });
  }

  // A signed-in customer: the shop's server put the id and its signature into the page.
  var customerId = document.body.getAttribute("data-customer-id");
  if (customerId) {
    window.Kundresa.identify(customerId, { signature: document.body.getAttribute("data-identity-signature") });
  }

  var cart = load();
  render(cart);
  if (cart.lines.length) announce(cart);

  document.querySelectorAll("[data-add]").forEach(function (button) {
    button.addEventListener("click", function () {
      cart.id = cart.id || randomId("cart-");
      var price = Number(button.getAttribute("data-price"));
      cart.lines.push({ sku: button.getAttribute("data-add"), name: button.getAttribute("data-name"), price: price });
      save(cart);
      render(cart);
      window.Kundresa.track("add_to_cart", {
        cart_id: cart.id,
        value: price,
        product_category: button.getAttribute("data-category"),
        sku: button.getAttribute("data-add"),
      });
      announce(cart);
      button.textContent = button.getAttribute("data-added") + " ✓";
    });
  });

  if (page === "checkout" && cart.lines.length) {
    window.Kundresa.track("checkout_started", { cart_id: cart.id, value: total(cart) });
  }
  var form = document.querySelector("[data-checkout]");
  if (form) {
    form.addEventListener("submit", function () {
      form.elements.order.value = randomId("order-");
      // The purchase is the shop's server's to report (a browser may not claim one): the demo's
      // server records it on the confirmation page from these fields. Only what the journey
      // needs: never the name or email the visitor typed.
      form.elements.cart.value = cart.id || "";
      form.elements.amount.value = String(total(cart));
      form.elements.visitor.value = localStorage.getItem("kundresa.vid") || "";
      save({ id: null, lines: [] });
    });
  }
  if (page === "confirmation") {
    var orderId = document.querySelector("[data-order]").getAttribute("data-order");
    if (orderId) window.Kundresa.show("post_purchase", { orderId: orderId, stage: "purchase" });
  }
})();
