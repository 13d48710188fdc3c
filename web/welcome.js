// After someone opens an invitation and picks their name: keep the session credential the
// server issued in this browser (localStorage, so it is there next week too) and go to the
// room. The credential is never put in the address bar; app.js reads it from storage and
// renews it each visit (credential.js).
import { keepCredential } from "./credential.js";

const el = document.getElementById("welcome");
if (el) {
  const room = el.dataset.room || "";
  const token = el.dataset.token || "";
  el.removeAttribute("data-token");
  keepCredential(globalThis.localStorage, room, token);
  location.replace(`/#room=${encodeURIComponent(room)}`);
}
