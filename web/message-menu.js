// Each message's actions (report; pin and delete for facilitators) behind one menu button,
// and one Tab stop for every control on every message (that menu button, and the support
// reactions the meeting panel adds under a message): a roving tabindex, so the whole
// conversation costs a keyboard user the log itself and one control, however long it is.
// On a message's control: ↑/↓ the previous/next message, ←/→ the message's other
// controls, Home/End the first/newest message; Enter or Space on the "⋯" opens its menu
// (role="menu"; ↑/↓/Home/End move in it, Escape or Tab closes it and focus goes back to
// the button). The control that holds the Tab stop follows the newest message until the
// person moves to another one. Controls added later by other modules join in by
// themselves (a MutationObserver keeps the Tab stop single).

import { button, el } from "./dom.js";

const MENU_BUTTON = ".msg-menu-button";
/** A message's own controls (not a menu's items, nor a confirmation or the report form). */
const CONTROL = ".msg-menu-button, .msg .reactions button";

export function createMessageMenus(box) {
  let current = null; // the menu button that holds the Tab stop
  let followNewest = true;
  let open = null; // {trigger, menu} of the open menu

  /** Messages with controls, each as its list of controls, oldest first. */
  const rows = () =>
    [...box.querySelectorAll(".msg")].map((m) => [...m.querySelectorAll(CONTROL)]).filter((r) => r.length > 0);
  const firstOfRows = () => rows().map((r) => r[0]);
  const rowOf = (control) => rows().findIndex((r) => r.includes(control));

  function setCurrent(next) {
    if (current === next) return;
    if (current) current.tabIndex = -1;
    current = next;
    if (current) current.tabIndex = 0;
  }

  /** After the log changed: keep exactly one control tabbable (the newest, unless moved). */
  function sync() {
    const all = [...box.querySelectorAll(CONTROL)];
    const firsts = firstOfRows();
    const newest = firsts[firsts.length - 1] || null;
    if (followNewest || !current || !current.isConnected || !current.matches(CONTROL)) setCurrent(newest);
    for (const b of all) if (b !== current && b.tabIndex !== -1) b.tabIndex = -1;
    if (current && current.tabIndex !== 0) current.tabIndex = 0;
  }

  let syncQueued = false;
  new MutationObserver(() => {
    if (syncQueued) return;
    syncQueued = true;
    queueMicrotask(() => {
      syncQueued = false;
      sync();
    });
  }).observe(box, { childList: true, subtree: true });

  function close({ focus = true } = {}) {
    if (!open) return;
    const { trigger, menu } = open;
    open = null;
    menu.hidden = true;
    trigger.setAttribute("aria-expanded", "false");
    if (focus && trigger.isConnected) trigger.focus();
  }

  function openMenu(trigger, menu) {
    if (open && open.trigger === trigger) {
      close();
      return;
    }
    close({ focus: false });
    open = { trigger, menu };
    menu.hidden = false;
    trigger.setAttribute("aria-expanded", "true");
    menu.scrollIntoView({ block: "nearest" });
    const first = menu.querySelector("[role=menuitem]:not([hidden])");
    if (first) first.focus({ preventScroll: true });
  }

  function moveTo(target) {
    if (!target) return;
    const all = rows();
    followNewest = all.length > 0 && all[all.length - 1].includes(target);
    setCurrent(target);
    target.scrollIntoView({ block: "nearest" });
    target.focus();
  }

  box.addEventListener("keydown", (event) => {
    const control = event.target.closest(CONTROL);
    if (control) {
      const all = rows();
      const r = rowOf(control);
      const row = all[r] || [];
      const c = row.indexOf(control);
      const first = (x) => x && x[0];
      const to = {
        ArrowUp: first(all[r - 1]),
        ArrowDown: first(all[r + 1]),
        ArrowLeft: row[c - 1],
        ArrowRight: row[c + 1],
        Home: first(all[0]),
        End: first(all[all.length - 1]),
      };
      if (event.key in to) {
        event.preventDefault();
        moveTo(to[event.key]);
      }
      return;
    }
    const item = event.target.closest("[role=menuitem]");
    if (!item || !open) return;
    const items = [...open.menu.querySelectorAll("[role=menuitem]:not([hidden])")];
    const i = items.indexOf(item);
    const to = {
      ArrowUp: items[(i - 1 + items.length) % items.length],
      ArrowDown: items[(i + 1) % items.length],
      Home: items[0],
      End: items[items.length - 1],
    };
    if (event.key in to) {
      event.preventDefault();
      to[event.key].focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    } else if (event.key === "Tab") {
      close({ focus: false });
    }
  });
  box.addEventListener("focusin", (event) => {
    const control = event.target.closest(CONTROL);
    if (control && control !== current) {
      const all = rows();
      followNewest = all.length > 0 && all[all.length - 1].includes(control);
      setCurrent(control);
    }
  });
  document.addEventListener("click", (event) => {
    if (open && !open.menu.contains(event.target) && !open.trigger.contains(event.target)) close({ focus: false });
  });

  return {
    /**
     * The actions of one message: a menu button named after it and its items (buttons,
     * already wired). A chosen item closes the menu before it acts.
     */
    actions(label, items) {
      const group = el("div", "msg-actions");
      const trigger = button("⋯", "act msg-menu-button", `Actions: ${label}`);
      trigger.tabIndex = -1;
      trigger.setAttribute("aria-haspopup", "menu");
      trigger.setAttribute("aria-expanded", "false");
      const menu = el("div", "msg-menu");
      menu.setAttribute("role", "menu");
      menu.setAttribute("aria-label", label);
      menu.hidden = true;
      for (const item of items) {
        item.setAttribute("role", "menuitem");
        item.tabIndex = -1;
        item.addEventListener("click", () => close(), { capture: true }); // focus back on the button first
        menu.append(item);
      }
      trigger.addEventListener("click", () => openMenu(trigger, menu));
      group.append(trigger, menu);
      return group;
    },
    sync,
    /** Focus the newest message's actions (a shortcut); false when there is none. */
    focusNewest() {
      const newest = firstOfRows().at(-1);
      if (!newest) return false;
      moveTo(newest);
      return true;
    },
  };
}
