// The only script of the dashboard: submit a filter or language form when a choice changes,
// and fold the top bar's menu behind its button on a phone. Without it every form has its own
// button and the menu simply stays unfolded.
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field.matches("[data-autosubmit]") && field.form) {
    field.form.requestSubmit();
  }
});

(() => {
  const bar = document.querySelector(".topbar");
  const toggle = bar && bar.querySelector(".menu-toggle");
  if (!toggle) return;
  const setOpen = (open) => {
    bar.classList.toggle("menu-open", open);
    toggle.setAttribute("aria-expanded", String(open));
  };
  bar.classList.add("menu-folds");
  toggle.hidden = false;
  toggle.addEventListener("click", () => setOpen(toggle.getAttribute("aria-expanded") !== "true"));
  // Escape folds it again and gives the focus back to the button.
  bar.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && bar.classList.contains("menu-open")) {
      setOpen(false);
      toggle.focus();
    }
  });
})();
