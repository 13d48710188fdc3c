// A session credential the server issued when someone opened an invitation (the /organise
// console's links): kept in localStorage under the room, renewed each time the person comes
// back (POST /api/v1/session), and dropped when the server says their place has ended.
// Links with a token in the fragment (`huddle link`, external issuers) do not use this.

export const credentialKey = (room) => `huddle:v1:session:${room}`;

export function keepCredential(storage, room, token) {
  if (!room || !token) return false;
  try {
    storage.setItem(credentialKey(room), token);
    return true;
  } catch {
    return false; // storage full or refused: this visit still works from the page
  }
}

export function storedCredential(storage, room) {
  try {
    return (room && storage && storage.getItem(credentialKey(room))) || "";
  } catch {
    return "";
  }
}

export function forgetCredential(storage, room) {
  try {
    storage.removeItem(credentialKey(room));
  } catch {
    /* nothing kept */
  }
}

/**
 * Renew the credential. Resolves to {token} (renewed), {ended: true} (the place ended: the
 * credential is forgotten), {ended: true, why: "expired"} (it ran out before they came back) or {token: <the old one>} when the server cannot be reached (it
 * is still valid until it expires; connecting will say if not).
 */
export async function renewCredential({ storage, room, token, fetchImpl = globalThis.fetch }) {
  let response;
  try {
    response = await fetchImpl("/api/v1/session", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
      credentials: "omit",
    });
  } catch {
    return { token };
  }
  if (response.status === 403 || response.status === 401) {
    // 403: the place has ended; 401: the credential is not (or no longer) valid.
    let expired = false;
    try {
      expired = response.status === 401 && Boolean((await response.json()).expired);
    } catch {
      /* no reason given */
    }
    forgetCredential(storage, room);
    return expired ? { ended: true, why: "expired" } : { ended: true };
  }
  if (!response.ok) return { token };
  try {
    const body = await response.json();
    if (typeof body.token === "string" && body.token) {
      keepCredential(storage, room, body.token);
      return { token: body.token };
    }
  } catch {
    /* keep the old one */
  }
  return { token };
}
