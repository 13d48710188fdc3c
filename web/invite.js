// The invitation page: if this browser already holds a place in the group (a credential
// kept when it joined before), say so and link to the group, so a second click on the
// link does not use up another place. Without scripts the page works the same, without
// the note.
import { storedCredential } from "./credential.js";

const note = document.getElementById("already");
if (note && storedCredential(globalThis.localStorage, note.dataset.room || "")) {
  note.hidden = false;
}
