// The only script of the dashboard: submit a filter or language form when a choice changes.
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field.matches("[data-autosubmit]") && field.form) {
    field.form.requestSubmit();
  }
});
