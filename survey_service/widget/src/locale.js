// The visitor's language: the page's <html lang> when we speak it, else the browser's, else English.
const SUPPORTED = { sv: "sv", da: "da", nb: "nb", no: "nb", nn: "nb", en: "en" };

// The few strings the widget itself needs; everything else comes from the survey API.
const STRINGS = {
  en: { required: "Please answer this question.", required_scale: "Choose a number." },
  sv: { required: "Svara på frågan, tack.", required_scale: "Välj en siffra." },
  da: { required: "Besvar venligst spørgsmålet.", required_scale: "Vælg et tal." },
  nb: { required: "Vennligst svar på spørsmålet.", required_scale: "Velg et tall." },
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
