// Streamlit's page can crash while it applies an update from the server ("Cannot set a node at
// a delta path" when a fragment's rerun crosses a full rerun): everything it drew is gone, and it
// stops talking to the server, the countdown and the reminders with it. The page is reloaded
// then: drafts are kept on the server. At most three reloads a minute, so a page that keeps
// failing stays as it is for someone to see. The reloaded page tells the server once, which
// says so on screen: a page that changes under a CMOC's hands needs a reason.
const CHECK_MS = 1000;
const RELOADS = "cmoc-page-reloads";
const RELOADED = "cmoc-page-reloaded";
const WINDOW_MS = 60000;
const MOST = 3;

function reloadUnlessLooping() {
  const now = Date.now();
  let recent = [];
  try {
    recent = JSON.parse(window.sessionStorage.getItem(RELOADS) || "[]");
    recent = recent.filter((at) => now - at < WINDOW_MS);
    if (recent.length >= MOST) return;
    window.sessionStorage.setItem(RELOADS, JSON.stringify([...recent, now]));
    window.sessionStorage.setItem(RELOADED, "1");
  } catch (error) {
    return; // without storage a loop could not be told apart: leave the page as it is
  }
  window.location.reload();
}

// One watch per page, outliving the component: it must run on after the crash unmounts it.
if (!window.cmocPageWatchdog) {
  window.cmocPageWatchdog = window.setInterval(() => {
    if (document.querySelector('[data-testid="stApp"]') === null) {
      window.clearInterval(window.cmocPageWatchdog);
      reloadUnlessLooping();
    }
  }, CHECK_MS);
}

export default function ({ setTriggerValue }) {
  try {
    if (window.sessionStorage.getItem(RELOADED) === null) return;
    window.sessionStorage.removeItem(RELOADED);
  } catch (error) {
    return;
  }
  setTriggerValue("reloaded", true);
}
