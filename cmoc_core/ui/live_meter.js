// Live X/Twitter length of the text area just above, updated on every keystroke; a pause in
// typing hands the text to Python, which saves the draft. The authoritative length check runs
// in Python when the text is committed and before publishing.
const URL = /\bhttps?:\/\/[^\s<>"]+|\b(?:[a-z0-9-]+\.)+(?:com|org|net|io|dev|app|info|co|gov|edu)\/[^\s<>"]*|\b(?:[a-z0-9-]+\.)+(?:com|org|net|dev|app|info|gov|edu)\b/gi;
const TRAILING = /[.,;:!?)\]'"]+$/;
const EMOJI = /\p{Extended_Pictographic}(?:\uFE0F|[\u{1F3FB}-\u{1F3FF}])?(?:\u200D\p{Extended_Pictographic}(?:\uFE0F|[\u{1F3FB}-\u{1F3FF}])?)*|[\u{1F1E6}-\u{1F1FF}]{2}/gu;
const LIGHT = [[0, 4351], [8192, 8205], [8208, 8223], [8242, 8247]];

function weigh(text) {
  let total = 0;
  for (const part of text.split(EMOJI_SPLIT)) {
    if (part === undefined || part === "") continue;
    if (EMOJI_ONLY.test(part)) { total += 2; continue; }
    for (const ch of part) {
      const code = ch.codePointAt(0);
      total += LIGHT.some(([lo, hi]) => code >= lo && code <= hi) ? 1 : 2;
    }
  }
  return total;
}
const EMOJI_SPLIT = new RegExp(`(${EMOJI.source})`, "u");
const EMOJI_ONLY = new RegExp(`^(?:${EMOJI.source})$`, "u");

function measure(raw, urlWeight) {
  const text = raw.normalize("NFC");
  let weighted = 0, last = 0, bodyEnd = text.length;
  for (const match of text.matchAll(URL)) {
    const url = match[0].replace(TRAILING, "");
    weighted += weigh(text.slice(last, match.index)) + urlWeight;
    bodyEnd = match.index;
    last = match.index + url.length;
  }
  weighted += weigh(text.slice(last));
  return { weighted, body: weigh(text.slice(0, bodyEnd)) };
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const host = parentElement.getRootNode().host || parentElement;
  let out = parentElement.querySelector(".live-meter");
  if (!out) {
    out = document.createElement("div");
    out.className = "live-meter";
    parentElement.appendChild(out);
  }
  const boxes = [...document.querySelectorAll("textarea")].filter(
    (t) => t.getAttribute("aria-label") === data.label &&
      t.compareDocumentPosition(host) & Node.DOCUMENT_POSITION_FOLLOWING,
  );
  const box = boxes[boxes.length - 1];
  if (!box) return;
  const render = () => {
    const { weighted, body } = measure(box.value, data.url_weight);
    out.dataset.weighted = String(weighted);
    out.textContent = `Typing: ${weighted}/${data.limit} on X · ${body}/${data.body_limit} before the final link`;
    out.classList.toggle("over", weighted > data.limit || body > data.body_limit);
  };
  let pause;
  const typed = () => {
    render();
    clearTimeout(pause);
    pause = setTimeout(() => setStateValue("text", box.value), data.save_after_ms);
  };
  box.addEventListener("input", typed);
  render();
  return () => {
    clearTimeout(pause);
    box.removeEventListener("input", typed);
  };
}
