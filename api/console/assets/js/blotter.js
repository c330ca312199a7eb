// The order blotter: the newest orders over HTTP, then every change live from the stream.
import { el, shown, timeOfDay } from "./dom.js";
import { newestFirst, OrderBook } from "./orders.js";

const PAGE = 100;
const TERMINAL = new Set(["FILLED", "CANCELED", "REJECTED", "EXPIRED"]);

// A keyboard user whose Cancel button was redrawn stays on that row: on its new button, or
// on its status once it can no longer be canceled.
const keepFocus = (row) => (row.querySelector("button") ?? row.querySelector("[data-status]"))
  .focus();
const cancelable = (order) => !TERMINAL.has(order.status) && order.status !== "PENDING_CANCEL";
const describe = (order) => [order.side, order.quantity, order.symbol,
  order.order_type === "LIMIT" ? `at ${order.price}` : order.order_type].filter(Boolean).join(" ");

export class Blotter {
  #book = new OrderBook();
  #rows = new Map(); // order id → its <tr>

  constructor({ body, news, empty }, session) {
    Object.assign(this, { body, news, empty, session });
  }

  clear() {
    this.#book.clear();
    this.news.textContent = "";
    this.#redraw();
  }

  /** Read the newest orders; those the stream changed meanwhile keep what it said. */
  async reload() {
    const counts = this.#book.counts();
    const page = await this.session.request("GET", `/orders?limit=${PAGE}`);
    for (const order of page.items) this.#book.read(order, counts.get(order.id));
    this.#redraw();
  }

  /** An order this console just placed: the answer of POST /orders, which is as old as the
   * order's first event (any event already heard of is newer). */
  placed(order) {
    this.#draw(this.#book.read(order));
  }

  /** An `order` or `fill` message of the stream. */
  onEvent(message) {
    const { order, unheardOf } = this.#book.event(message);
    this.news.textContent = `${describe(order)}: ${message.status}`;
    this.#draw(order);
    if (unheardOf) { // placed elsewhere, or before the newest page: its terms come over HTTP
      const events = this.#book.counts().get(order.id);
      this.session.request("GET", `/orders/${order.id}`)
        .then((read) => this.#draw(this.#book.read(read, events)), () => {});
    }
  }

  #redraw() {
    const orders = this.#book.orders();
    this.#rows = new Map(orders.map((order) => [order.id, this.#row(order)]));
    this.body.replaceChildren(...this.#rows.values());
    this.empty.hidden = orders.length > 0;
  }

  // Redraw one order's row in place (a new one goes where its time puts it).
  #draw(order) {
    const previous = this.#rows.get(order.id);
    const row = this.#row(order);
    this.#rows.set(order.id, row);
    if (previous?.isConnected) {
      const focused = previous.contains(document.activeElement);
      previous.replaceWith(row);
      if (focused) keepFocus(row);
    } else {
      const older = [...this.body.rows].find(
        (other) => newestFirst(order, this.#book.get(other.dataset.orderId)) < 0);
      this.body.insertBefore(row, older ?? null);
    }
    this.empty.hidden = true;
  }

  #row(order) {
    const cells = [
      el("td", {}, timeOfDay(order.created_at)), el("td", {}, order.symbol),
      el("td", {}, order.side), el("td", {}, shown(order.order_type)),
      el("td", { className: "num" }, shown(order.quantity)),
      el("td", { className: "num" }, shown(order.filled_quantity)),
      el("td", { className: "num" }, shown(order.price)),
      el("td", { className: "num" }, shown(order.avg_fill_price)),
      el("td", { dataset: { status: order.status }, tabIndex: -1 }, order.status),
      el("td", {}, cancelable(order) ? this.#cancelButton(order) : null),
    ];
    return el("tr", { dataset: { orderId: order.id } }, ...cells);
  }

  #cancelButton(order) {
    const button = el("button", { type: "button", className: "quiet" }, "Cancel");
    button.setAttribute("aria-label", `Cancel ${describe(order)}`);
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await this.session.request("DELETE", `/orders/${order.id}`);
        this.news.textContent = `${describe(order)}: cancel requested`;
      } catch (error) {
        this.news.textContent = `Could not cancel ${describe(order)}: ${error.message}`;
        button.disabled = false;
      }
    });
    return button;
  }
}
