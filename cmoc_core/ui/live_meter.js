// The one length meter under a message, live in the browser. `RULES` is put before this file by
// meter.py: the server's own URL and emoji patterns, TLD lists and weights (textlimits), so the
// numbers here are the ones the check before publishing computes. The meter follows every
// keystroke, and also any change made without typing (a template, a draft restored, a publish
// that cleared the text); a pause in typing hands the text to Python, which saves the draft.
const URL = new RegExp(RULES.url_pattern, "giu");
const EMOJI = new RegExp(RULES.emoji_pattern, "uy");
const COUNTRY_TLDS = new Set(RULES.country_tlds);
const SPECIAL_SHORT_TLDS = new Set(RULES.special_short_tlds);
const URL_ENDING = new Set(RULES.url_endings);
const GSM_BASIC = new Set(RULES.gsm_basic);
const GSM_EXTENSION = new Set(RULES.gsm_extension);
const ALNUM = /^[\p{L}\p{N}]$/u;
const WATCH_MS = 250;

function isAlnum(ch) {
  return ALNUM.test(ch);
}

function count(text, ch) {
  return text.split(ch).length - 1;
}

function trimUrl(url) {
  // Drop trailing punctuation that ends the sentence rather than the URL.
  while (url) {
    const last = url[url.length - 1];
    if (last === ")") {
      if (count(url, "(") >= count(url, ")")) break;
    } else if (isAlnum(last) || URL_ENDING.has(last)) {
      break;
    }
    url = url.slice(0, -1);
  }
  return url;
}

function urlSpans(text) {
  const spans = [];
  for (const match of text.matchAll(URL)) {
    const url = trimUrl(match[0]);
    const { scheme, domain } = match.groups;
    if (scheme) {
      if (![...url.slice(scheme.length)].some(isAlnum)) continue;
    } else {
      const hasPath = url.length > domain.length;
      const tld = domain.slice(domain.lastIndexOf(".") + 1).toLowerCase();
      const dots = count(domain, ".");
      if (!hasPath && dots === 1 && COUNTRY_TLDS.has(tld) && !SPECIAL_SHORT_TLDS.has(tld)) {
        continue;
      }
    }
    spans.push([match.index, match.index + url.length]);
  }
  return spans;
}

function charWeight(code) {
  return RULES.light_ranges.some(([low, high]) => code >= low && code <= high) ? 1 : 2;
}

function weigh(text, spans) {
  const starts = new Map(spans);
  let total = 0;
  let index = 0;
  while (index < text.length) {
    if (starts.has(index)) {
      total += RULES.url_weight;
      index = starts.get(index);
      continue;
    }
    EMOJI.lastIndex = index;
    if (EMOJI.exec(text)) {
      total += RULES.emoji_weight;
      index = EMOJI.lastIndex;
      continue;
    }
    const code = text.codePointAt(index);
    total += charWeight(code);
    index += code > 0xffff ? 2 : 1;
  }
  return total;
}

function segments(costs, single, part) {
  if (costs.reduce((sum, cost) => sum + cost, 0) <= single) return 1;
  let parts = 1;
  let used = 0;
  for (const cost of costs) {
    if (used + cost > part) {
      parts += 1;
      used = 0;
    }
    used += cost;
  }
  return parts;
}

function smsSegments(text) {
  if (!text) return 0;
  const chars = [...text];
  if (chars.every((ch) => GSM_BASIC.has(ch) || GSM_EXTENSION.has(ch))) {
    const costs = chars.map((ch) => (GSM_EXTENSION.has(ch) ? 2 : 1));
    return segments(costs, RULES.sms_gsm_single, RULES.sms_gsm_part);
  }
  const costs = chars.map((ch) => (ch.codePointAt(0) > 0xffff ? 2 : 1));
  return segments(costs, RULES.sms_ucs2_single, RULES.sms_ucs2_part);
}

// The numbers textlimits.check_length gives for `raw`: X weight, body before the final link, SMS.
export function measure(raw) {
  const text = raw.normalize("NFC");
  const spans = urlSpans(text);
  const weighted = weigh(text, spans);
  const body = spans.length
    ? weigh(text.slice(0, spans[spans.length - 1][0]), spans.slice(0, -1))
    : weighted;
  return { weighted, body, sms: smsSegments(raw) };
}

function show(out, text) {
  const { weighted, body, sms } = measure(text);
  out.dataset.weighted = String(weighted);
  out.dataset.body = String(body);
  out.dataset.sms = String(sms);
  out.textContent =
    `X: ${weighted}/${RULES.x_limit} · before the final link: ${body}/${RULES.body_limit}` +
    ` · may be cut at ~${RULES.x_truncation} · SMS: ${sms} segment${sms === 1 ? "" : "s"}`;
  out.classList.toggle("over", weighted > RULES.x_limit || body > RULES.body_limit);
  out.classList.toggle("risk", weighted > RULES.x_truncation);
}

// One meter per mounted component; Streamlit calls the default export again whenever the data
// changes (the server's text after a rerun), so the state lives here between calls.
const meters = new WeakMap();

function findBox(host, label) {
  const boxes = [...document.querySelectorAll("textarea")].filter(
    (t) => t.getAttribute("aria-label") === label &&
      t.compareDocumentPosition(host) & Node.DOCUMENT_POSITION_FOLLOWING,
  );
  return boxes[boxes.length - 1];
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let meter = meters.get(parentElement);
  if (!meter) {
    let out = parentElement.querySelector(".live-meter");
    if (!out) {
      out = document.createElement("div");
      out.className = "live-meter";
      out.setAttribute("aria-live", "polite");
      parentElement.appendChild(out);
    }
    meter = { out, box: null, shown: null, pause: null, generation: 0 };
    meter.host = parentElement.getRootNode().host || parentElement;
    meter.typed = () => {
      meter.refresh();
      clearTimeout(meter.pause);
      meter.pause = setTimeout(
        () => meter.setStateValue("text", meter.box.value),
        meter.data.save_after_ms,
      );
    };
    meter.refresh = () => {
      if (!meter.box || !meter.box.isConnected) {
        meter.box?.removeEventListener("input", meter.typed);
        meter.box = findBox(meter.host, meter.data.label);
        meter.box?.addEventListener("input", meter.typed);
        meter.shown = null;
      }
      const text = meter.box ? meter.box.value : (meter.data.text ?? "");
      if (text !== meter.shown) {
        meter.shown = text;
        show(meter.out, text);
      }
    };
    // React sets a text area's value without an input event (a template, a restored draft):
    // watching the value catches those too.
    meter.watch = setInterval(() => meter.refresh(), WATCH_MS);
    meters.set(parentElement, meter);
  }
  meter.generation += 1;
  const generation = meter.generation;
  meter.data = data;
  meter.setStateValue = setStateValue;
  meter.refresh();
  requestAnimationFrame(() => meter.refresh());
  return () => {
    if (meters.get(parentElement) !== meter || meter.generation !== generation) return;
    clearTimeout(meter.pause);
    clearInterval(meter.watch);
    meter.box?.removeEventListener("input", meter.typed);
    meters.delete(parentElement);
  };
}
