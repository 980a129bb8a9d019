// The visitor's language: the page's <html lang> when we speak it, else the browser's, else English.
const SUPPORTED = { sv: "sv", da: "da", nb: "nb", no: "nb", nn: "nb", en: "en" };

// The few strings the widget itself needs; everything else comes from the survey API.
const STRINGS = {
  en: {
    required: "Please answer this question.",
    required_scale: "Choose a number.",
    next: "Next",
    back: "Back",
    step: "Question {n} of {total}",
    thanks_title: "Thank you!",
    // On a phone the visitor is about to go (came back after leaving, or stopped on the cart).
    before_you_go: "Before you go",
  },
  sv: {
    required: "Svara på frågan, tack.",
    required_scale: "Välj en siffra.",
    next: "Nästa",
    back: "Tillbaka",
    step: "Fråga {n} av {total}",
    thanks_title: "Tack!",
    before_you_go: "Innan du går",
  },
  da: {
    required: "Besvar venligst spørgsmålet.",
    required_scale: "Vælg et tal.",
    next: "Næste",
    back: "Tilbage",
    step: "Spørgsmål {n} af {total}",
    thanks_title: "Tak!",
    before_you_go: "Inden du går",
  },
  nb: {
    required: "Vennligst svar på spørsmålet.",
    required_scale: "Velg et tall.",
    next: "Neste",
    back: "Tilbake",
    step: "Spørsmål {n} av {total}",
    thanks_title: "Takk!",
    before_you_go: "Før du går",
  },
};

function match(tag) {
  return SUPPORTED[String(tag || "").toLowerCase().split(/[-_]/)[0]];
}

export function detectLocale() {
  const candidates = [document.documentElement.lang].concat(
    navigator.languages || [],
    navigator.language,
  );
  for (const tag of candidates) {
    const found = match(tag);
    if (found) return found;
  }
  return "en";
}

export function strings(locale) {
  return STRINGS[locale] || STRINGS.en;
}
