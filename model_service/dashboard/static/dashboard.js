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

// Wide tables read as cards on a phone: each cell is labelled with its column's heading
// (data-label, shown by dashboard.css under 760 px). Without this script they scroll sideways
// inside their card instead.
document.querySelectorAll(".table-wrap > table.data").forEach((table) => {
  const headings = Array.from(table.querySelectorAll("thead th"), (th) => th.textContent.trim());
  if (headings.length < 6) return;
  table.classList.add("cards-on-phone");
  table.querySelectorAll("tbody tr").forEach((row) => {
    Array.from(row.cells).forEach((cell, index) => {
      if (headings[index]) cell.dataset.label = headings[index];
    });
  });
});
