// Reminders away from the tab: a browser notification and a short beep two minutes before an
// update is due and once it is overdue, once each per gap. The words come from the server
// (cmoc_core.reminders.browser_alert); this file only keeps time. What has been shown is
// remembered in localStorage under the gap's key, so a rerun, a reload or a second tab does not
// repeat it.
const CHECK_MS = 5000;
const alerts = new WeakMap();

function remembered(key) {
  try {
    return window.localStorage.getItem(key) === "shown";
  } catch (error) {
    return false;
  }
}

function remember(key) {
  try {
    window.localStorage.setItem(key, "shown");
  } catch (error) {
    // Private windows may refuse storage: the alert is then shown once per page load.
  }
}

function beep(state) {
  const AudioCtx = window.AudioContext || window.webkitAudioContext;
  if (!AudioCtx) return;
  state.audio = state.audio || new AudioCtx();
  const audio = state.audio;
  if (audio.state === "suspended") audio.resume();
  [0, 0.3].forEach((start) => {
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime + start);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + start + 0.25);
    tone.connect(gain).connect(audio.destination);
    tone.start(audio.currentTime + start);
    tone.stop(audio.currentTime + start + 0.25);
  });
}

function notify(state, title, body, tag) {
  if ("Notification" in window && Notification.permission === "granted") {
    new Notification(title, { body, tag });
  }
  beep(state);
  state.out.textContent = `${title} — ${body}`;
}

function check(state) {
  const data = state.data;
  if (!data || !data.key) return;
  const now = Date.now();
  const soonKey = `cmoc-reminder:${data.key}:soon`;
  const overdueKey = `cmoc-reminder:${data.key}:overdue`;
  // The server's word counts too: this computer's clock may be behind.
  if (now >= data.due_at_ms || data.overdue) {
    if (!remembered(overdueKey)) {
      remember(overdueKey);
      remember(soonKey);
      notify(state, data.overdue_title, data.overdue_body, overdueKey);
    }
  } else if (now >= data.soon_at_ms && !remembered(soonKey)) {
    remember(soonKey);
    notify(state, data.soon_title, data.soon_body, soonKey);
  }
}

function showButton(state) {
  const wanted = "Notification" in window && Notification.permission === "default";
  state.button.hidden = !wanted;
}

export default function (component) {
  const { data, parentElement } = component;
  let state = alerts.get(parentElement);
  if (!state) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "reminder-button";
    const out = document.createElement("div");
    out.className = "reminder-line";
    out.setAttribute("aria-live", "polite");
    parentElement.append(button, out);
    state = { button, out, audio: null, data, generation: 0 };
    // A click both asks for permission and lets the page play sound later.
    button.addEventListener("click", () => {
      const AudioCtx = window.AudioContext || window.webkitAudioContext;
      if (AudioCtx && !state.audio) state.audio = new AudioCtx();
      if ("Notification" in window) {
        Notification.requestPermission().then(() => showButton(state));
      }
    });
    state.timer = setInterval(() => check(state), CHECK_MS);
    alerts.set(parentElement, state);
  }
  state.generation += 1;
  const generation = state.generation;
  state.data = data;
  state.button.textContent = data.ask_label;
  showButton(state);
  clearTimeout(state.soon);
  clearTimeout(state.due);
  const now = Date.now();
  if (data.soon_at_ms > now) state.soon = setTimeout(() => check(state), data.soon_at_ms - now);
  if (data.due_at_ms > now) state.due = setTimeout(() => check(state), data.due_at_ms - now);
  check(state);
  return () => {
    // Called again with new data, Streamlit ends the earlier call: only the last one tears down.
    if (alerts.get(parentElement) !== state || state.generation !== generation) return;
    clearInterval(state.timer);
    clearTimeout(state.soon);
    clearTimeout(state.due);
    alerts.delete(parentElement);
  };
}
