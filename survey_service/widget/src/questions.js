// One form control per question type, with real labels: scales and single choice are radio
// groups (arrow keys move within a group), multiple choice is a group of checkboxes, both in a
// fieldset whose legend is the question; free text is a labelled textarea.
import { h } from "./dom.js";

const SCALES = { nps: [0, 10], csat: [1, 5], ces: [1, 7] };

function scale(question, name, describedBy) {
  const [low, high] = SCALES[question.type];
  const options = [];
  for (let n = low; n <= high; n++) {
    options.push(
      h("label", { class: "pt" }, [
        h("input", { type: "radio", name, value: String(n) }),
        // The number is the accessible name; the ends are read as the group's description.
        h("span", null, String(n)),
      ]),
    );
  }
  const ends =
    question.min_label || question.max_label
      ? h("div", { class: "ends", id: describedBy }, [
          h("span", null, question.min_label || ""),
          h("span", null, question.max_label || ""),
        ])
      : null;
  return [h("div", { class: `scale n${high - low + 1}` }, options), ends];
}

function choices(question, name, type) {
  return h(
    "div",
    { class: "opts" },
    (question.options || []).map((option) =>
      h("label", { class: "opt" }, [
        h("input", { type, name, value: option.value }),
        h("span", null, option.label),
      ]),
    ),
  );
}

export function renderQuestion(question, index) {
  const name = `q${index}`;
  const errorId = `${name}e`;
  const error = h("p", { class: "err", id: errorId, hidden: true });
  if (question.type === "text") {
    return h("div", { class: "q", "data-q": index }, [
      h("label", { class: "lbl", for: name }, question.label),
      h("textarea", {
        id: name,
        name,
        rows: "3",
        maxlength: question.max_length || 2000,
        "aria-describedby": errorId,
        required: !!question.required,
      }),
      error,
    ]);
  }
  const endsId = `${name}d`;
  const body =
    question.type in SCALES
      ? scale(question, name, endsId)
      : choices(question, name, question.type === "multi_choice" ? "checkbox" : "radio");
  return h(
    "fieldset",
    {
      class: "q",
      "data-q": index,
      "aria-describedby": `${question.min_label ? endsId : ""} ${errorId}`.trim(),
    },
    [h("legend", { class: "lbl" }, question.label)].concat(body, error),
  );
}

// The answer to one question: an int for scales, a string for single choice and text, a list
// for multiple choice; undefined when unanswered.
export function readAnswer(form, question, index) {
  const name = `q${index}`;
  if (question.type === "text") {
    const text = form.elements[name].value.trim();
    return text || undefined;
  }
  const checked = Array.from(form.querySelectorAll(`input[name="${name}"]:checked`), (el) => el.value);
  if (question.type === "multi_choice") return checked.length ? checked : undefined;
  if (!checked.length) return undefined;
  return question.type in SCALES ? Number(checked[0]) : checked[0];
}
