// The survey box. It lives in a Shadow DOM under one host element whose inline styles reset
// everything the page could inherit or force on it, and it is a native <dialog> in one of two
// modes:
// - "dialog": modal (showModal). The top layer puts it above any z-index, the rest of the page
//   becomes inert, Escape closes it, Tab stays inside.
// - "slide-in": non-modal (show), in a corner, the shop stays usable; one question per step.
// On a phone (narrow screen) every mode asks one question at a time, so no answer hides below
// the fold and every target stays large.
import { h } from "./dom.js";
import { readAnswer, renderQuestion } from "./questions.js";
import { safe } from "./safe.js";

/* global __WIDGET_CSS__ */
const HOST_STYLE =
  "all:initial!important;display:block!important;position:fixed!important;top:0!important;" +
  "left:0!important;width:0!important;height:0!important;visibility:visible!important;" +
  "opacity:1!important;transform:none!important;filter:none!important;z-index:2147483647!important";
const NARROW = "(max-width: 480px)";
const SCALE_TYPES = { nps: 1, csat: 1, ces: 1 };

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

function fill(template, values) {
  return String(template).replace(/\{(\w+)\}/g, (_, name) => values[name]);
}

export function openSurvey(survey, texts, { accent, mode, title, onSubmit, onClose }) {
  const returnFocus = document.activeElement;
  const modal = mode !== "slide-in";
  const narrow = !!(window.matchMedia && matchMedia(NARROW).matches);
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
  const blocks = questions.map(renderQuestion);
  const stepped = (!modal || narrow) && blocks.length > 1;
  let at = 0;
  const last = blocks.length - 1;

  const send = h("button", { type: "submit", class: "send" }, survey.submit);
  const next = stepped ? h("button", { type: "button", class: "next", onclick: () => forward() }, texts.next) : null;
  const back = stepped ? h("button", { type: "button", class: "back", onclick: () => go(at - 1) }, texts.back) : null;
  const progressShown = h("span", { "aria-hidden": "true" });
  const progressRead = h("span", { class: "vh" });
  const progress = stepped ? h("p", { class: "progress" }, [progressShown, progressRead]) : null;

  const form = h("form", { novalidate: true, onsubmit: submit }, [
    h("p", { class: "intro", id: "kri" }, survey.intro || ""),
    progress,
    blocks,
    // The honeypot: invisible and unreachable for people, tempting for form-filling bots.
    h("input", { class: "hp", name: "website", tabindex: "-1", autocomplete: "off", "aria-hidden": "true" }),
    h("div", { class: "foot" }, [back, h("span", { class: "grow" }), next, send]),
  ]);
  const closeButton = h("button", { type: "button", class: "x", "aria-label": survey.close, title: survey.close, onclick: close }, "×");
  // The heading takes the first focus: a screen reader announces the survey, and a visitor who
  // did not ask for it is not greeted by a focus ring on a button.
  const heading = h("h2", { id: "krt", tabindex: "-1" }, title || survey.title || "");
  const dialog = h(
    "dialog",
    {
      class: modal ? "modal" : "slide",
      lang: survey.locale,
      "aria-labelledby": "krt",
      "aria-describedby": "kri",
      style: accent ? `--kr-accent:${accent}` : null,
    },
    [closeButton, heading, form],
  );

  // Shows step ``index`` of a stepped survey: its question, the right buttons, "2/4".
  function go(index) {
    if (!stepped || index < 0 || index > last) return;
    at = index;
    blocks.forEach((block, i) => {
      block.hidden = i !== at;
    });
    back.hidden = at === 0;
    next.hidden = at === last;
    send.hidden = at !== last;
    progressShown.textContent = `${at + 1}/${blocks.length}`;
    progressRead.textContent = fill(texts.step, { n: at + 1, total: blocks.length });
  }

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

  // Checks the questions at ``indices``: the answers given, and the first control of the first
  // required question left unanswered (null when none is).
  function check(indices) {
    const answers = {};
    let firstInvalid = null;
    indices.forEach((index) => {
      const question = questions[index];
      const value = readAnswer(form, question, index);
      const missing = question.required && value === undefined;
      markMissing(blocks[index], missing && (question.type in SCALE_TYPES ? texts.required_scale : texts.required));
      if (missing && !firstInvalid) firstInvalid = tabStops(blocks[index])[0];
      if (value !== undefined) answers[question.id] = value;
    });
    return { answers, firstInvalid };
  }

  function forward() {
    const { firstInvalid } = check([at]);
    if (firstInvalid) return firstInvalid.focus();
    go(at + 1);
    const first = tabStops(blocks[at])[0];
    if (first) first.focus({ preventScroll: true });
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
    // Enter inside a step that is not the last one means "next".
    if (stepped && at < last) return forward();
    const { answers, firstInvalid } = check(questions.map((_, index) => index));
    if (firstInvalid) {
      if (stepped) go(Number(firstInvalid.closest("[data-q]").getAttribute("data-q")));
      return firstInvalid.focus();
    }
    onSubmit(answers, form.elements.website.value);
    const done = h("button", { type: "button", class: "send", onclick: close }, survey.close);
    // The heading no longer asks anything: it thanks.
    heading.textContent = texts.thanks_title;
    form.replaceWith(h("div", { class: "done", role: "status" }, [h("p", null, survey.thanks), h("div", { class: "foot" }, done)]));
    dialog.removeAttribute("aria-describedby");
    done.focus();
  }

  dialog.addEventListener("cancel", safe((event) => {
    event.preventDefault();
    close();
  }));
  dialog.addEventListener("keydown", safe((event) => {
    // A non-modal dialog gets no "cancel" from Escape: close it here.
    if (event.key === "Escape" && !modal) {
      event.preventDefault();
      return close();
    }
    // In the modal, focus stays inside: Tab from the last stop wraps to the first, Shift+Tab
    // the other way. The slide-in lets Tab go on into the page: it blocks nothing.
    if (event.key !== "Tab" || !modal) return;
    const stops = tabStops(dialog);
    const first = stops[0];
    const lastStop = stops[stops.length - 1];
    const active = shadow.activeElement;
    if (event.shiftKey ? active === first || !active : active === lastStop) {
      event.preventDefault();
      (event.shiftKey ? lastStop : first).focus();
    }
  }));
  // A click on the backdrop (outside the dialog box) closes the modal, like Escape.
  dialog.addEventListener("click", safe((event) => {
    if (!modal || event.target !== dialog) return;
    const box = dialog.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) close();
  }));

  go(0);
  shadow.append(h("style", null, __WIDGET_CSS__), dialog);
  document.body.append(host);
  if (modal) dialog.showModal();
  else dialog.show();
  heading.focus({ preventScroll: true });
  return close;
}
