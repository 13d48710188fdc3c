// Small DOM helpers shared by the views. Every piece of user text goes in with
// textContent, never as HTML. No state.

export const byId = (id) => document.getElementById(id);

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = String(text);
  return node;
}

export function button(text, className = "secondary small", label = "") {
  const node = el("button", className, text);
  node.type = "button";
  if (label) node.setAttribute("aria-label", label);
  return node;
}

/**
 * Long text folded to a few lines (CSS `.clamp`) with a "Show more" / "Show less" button
 * that appears only when the text does not fit. `watch(text, toggle)` registers a pair;
 * the button is kept right as the width changes (a ResizeObserver measures the text).
 */
export function createFolds({ more = "Show more", less = "Show less" } = {}) {
  const pairs = new Map(); // text node -> toggle button
  const measure = (text) => {
    const toggle = pairs.get(text);
    if (!toggle || !text.isConnected) return;
    const open = text.classList.contains("open");
    // Folded: does it overflow? Open: it did, or the button would not have been pressed.
    if (!open) toggle.hidden = text.clientHeight === 0 || text.scrollHeight <= text.clientHeight + 2;
  };
  const observer = typeof ResizeObserver === "function" ? new ResizeObserver((records) => records.forEach((r) => measure(r.target))) : null;
  return {
    /** A folded `text` node and its toggle (hidden until the text is found to overflow). */
    fold(text, label = "") {
      text.classList.add("clamp");
      const toggle = button(more, "secondary small fold-toggle");
      toggle.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      if (label) toggle.setAttribute("aria-label", `${more}: ${label}`);
      toggle.addEventListener("click", () => {
        const open = !text.classList.contains("open");
        text.classList.toggle("open", open);
        toggle.textContent = open ? less : more;
        if (label) toggle.setAttribute("aria-label", `${open ? less : more}: ${label}`);
        toggle.setAttribute("aria-expanded", String(open));
      });
      pairs.set(text, toggle);
      if (observer) observer.observe(text);
      requestAnimationFrame(() => measure(text));
      return toggle;
    },
    /** Forget a text node that left the page. */
    forget(text) {
      pairs.delete(text);
      if (observer) observer.unobserve(text);
    },
  };
}

/** Put `nodes` into `box` in this order, moving as little as possible (keeps focus). */
export function reconcile(box, nodes) {
  const keep = new Set(nodes);
  for (const child of [...box.children]) if (!keep.has(child)) child.remove();
  nodes.forEach((node, i) => {
    if (box.children[i] !== node) box.insertBefore(node, box.children[i] || null);
  });
}

/**
 * Ask before a step that cannot be undone: `panel` shows the question with confirm and
 * cancel; either way it empties again and focus goes back to `origin`.
 */
export function confirmInline(panel, origin, question, confirmLabel, onConfirm) {
  const ask = el("span", "confirm-question", question);
  const yes = button(confirmLabel, "small danger");
  const no = button("Cancel", "secondary small");
  const close = () => {
    panel.replaceChildren();
    if (origin.isConnected) origin.focus();
  };
  yes.addEventListener("click", async () => {
    const ack = await onConfirm(yes);
    if (ack && ack.ok) panel.replaceChildren();
    else close();
  });
  no.addEventListener("click", close);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  panel.replaceChildren(ask, yes, no);
  (panel.closest(".msg") || panel).scrollIntoView({ block: "nearest" });
  no.focus();
}

/** A labelled one-line field for an optional reason (the server takes up to 300 characters). */
export function reasonField(idPrefix, labelClass, inputClass, labelText) {
  const id = `${idPrefix}-${Math.random().toString(36).slice(2, 8)}`;
  const label = el("label", labelClass, labelText);
  label.htmlFor = id;
  const input = el("input", inputClass);
  input.id = id;
  input.maxLength = 300;
  input.autocomplete = "off";
  return { label, input };
}
