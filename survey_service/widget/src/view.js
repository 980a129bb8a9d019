// The survey dialog. It lives in a Shadow DOM under one host element whose inline styles reset
// everything the page could inherit or force on it, and it is a native modal <dialog>: the top
// layer puts it above any z-index, the rest of the page becomes inert, Escape closes it.
import { h } from "./dom.js";
import { readAnswer, renderQuestion } from "./questions.js";
import { safe } from "./safe.js";

/* global __WIDGET_CSS__ */
const HOST_STYLE =
  "all:initial!important;display:block!important;position:fixed!important;top:0!important;" +
  "left:0!important;width:0!important;height:0!important;visibility:visible!important;" +
  "opacity:1!important;transform:none!important;filter:none!important;z-index:2147483647!important";

function tabStops(root) {
  return Array.from(root.querySelectorAll("button,textarea,input")).filter((el) => {
    if (el.disabled || el.tabIndex < 0 || el.closest("[hidden]")) return false;
    if (el.type !== "radio") return true;
    // A radio group is one tab stop: its checked radio, or its first when none is checked.
    const group = Array.from(root.querySelectorAll(`input[name="${el.name}"]`));
    const checked = group.find((radio) => radio.checked);
    return el === (checked || group[0]);
  });
}

export function openSurvey(survey, texts, { accent, onSubmit, onClose }) {
  const returnFocus = document.activeElement;
  const host = h("kundresa-survey", { style: HOST_STYLE });
  const shadow = host.attachShadow({ mode: "open" });
  const close = () => {
    if (!host.isConnected) return;
    if (dialog.open) dialog.close();
    host.remove();
    try {
      if (returnFocus && returnFocus.focus) returnFocus.focus({ preventScroll: true });
    } catch (_) {
      // The element that had focus may be gone; nothing to return to.
    }
    onClose();
  };

  const questions = survey.questions || [];
  const form = h("form", { novalidate: true, onsubmit: submit }, [
    h("p", { class: "intro", id: "kri" }, survey.intro || ""),
    questions.map(renderQuestion),
    // The honeypot: invisible and unreachable for people, tempting for form-filling bots.
    h("input", { class: "hp", name: "website", tabindex: "-1", autocomplete: "off", "aria-hidden": "true" }),
    h("div", { class: "foot" }, h("button", { type: "submit", class: "send" }, survey.submit)),
  ]);
  const closeButton = h("button", { type: "button", class: "x", "aria-label": survey.close, title: survey.close, onclick: close }, "×");
  // The heading takes the first focus: a screen reader announces the survey, and a visitor who
  // did not ask for it is not greeted by a focus ring on a button.
  const heading = h("h2", { id: "krt", tabindex: "-1" }, survey.title || "");
  const dialog = h(
    "dialog",
    { lang: survey.locale, "aria-labelledby": "krt", "aria-describedby": "kri", style: accent ? `--kr-accent:${accent}` : null },
    [closeButton, heading, form],
  );

  // A question's "missing" message (or none), shown and tied to its controls as invalid.
  function markMissing(block, message) {
    const error = block.querySelector(".err");
    error.hidden = !message;
    error.textContent = message || "";
    block.toggleAttribute("data-invalid", !!message);
    block.querySelectorAll("input,textarea").forEach((el) =>
      message ? el.setAttribute("aria-invalid", "true") : el.removeAttribute("aria-invalid"),
    );
  }

  // Once answered, a question flagged at Send stops saying it is missing, to eyes and to
  // screen readers alike, instead of until the next Send.
  form.addEventListener("input", safe((event) => {
    const block = event.target.closest("[data-q]");
    if (!block || !block.hasAttribute("data-invalid")) return;
    const index = Number(block.getAttribute("data-q"));
    if (readAnswer(form, questions[index], index) !== undefined) markMissing(block, null);
  }));

  function submit(event) {
    event.preventDefault();
    const answers = {};
    let firstInvalid = null;
    questions.forEach((question, index) => {
      const value = readAnswer(form, question, index);
      const block = form.querySelector(`[data-q="${index}"]`);
      const missing = question.required && value === undefined;
      markMissing(block, missing && (question.type in { nps: 1, csat: 1, ces: 1 } ? texts.required_scale : texts.required));
      if (missing && !firstInvalid) firstInvalid = tabStops(block)[0];
      if (value !== undefined) answers[question.id] = value;
    });
    if (firstInvalid) return firstInvalid.focus();
    onSubmit(answers, form.elements.website.value);
    const done = h("button", { type: "button", class: "send", onclick: close }, survey.close);
    form.replaceWith(h("div", { class: "done", role: "status" }, [h("p", null, survey.thanks), h("div", { class: "foot" }, done)]));
    dialog.removeAttribute("aria-describedby");
    done.focus();
  }

  dialog.addEventListener("cancel", safe((event) => {
    event.preventDefault();
    close();
  }));
  // Focus stays inside: Tab from the last stop wraps to the first, Shift+Tab the other way.
  dialog.addEventListener("keydown", safe((event) => {
    if (event.key !== "Tab") return;
    const stops = tabStops(dialog);
    const first = stops[0];
    const last = stops[stops.length - 1];
    const active = shadow.activeElement;
    if (event.shiftKey ? active === first || !active : active === last) {
      event.preventDefault();
      (event.shiftKey ? last : first).focus();
    }
  }));
  // A click on the backdrop (outside the dialog box) closes it, like Escape.
  dialog.addEventListener("click", safe((event) => {
    if (event.target !== dialog) return;
    const box = dialog.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) close();
  }));

  shadow.append(h("style", null, __WIDGET_CSS__), dialog);
  document.body.append(host);
  dialog.showModal();
  heading.focus();
  return close;
}
