// The order ticket: POST /orders with an Idempotency-Key, the API's refusal shown at its field.

// crypto.randomUUID() exists only in secure contexts; a console served over plain HTTP on a
// LAN still needs a key, and 128 random bits make one.
const idempotencyKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)),
  (byte) => byte.toString(16).padStart(2, "0")).join("");

export class Ticket {
  /** `onPlaced(order)` gets the accepted order as POST /orders answered it. */
  constructor({ form, status }, session, onPlaced) {
    Object.assign(this, { form, status, session, onPlaced });
    const type = form.elements.order_type;
    type.addEventListener("change", () => this.#typeChanged());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#submit();
    });
  }

  clear() {
    this.form.reset();
    this.#typeChanged();
    this.status.textContent = "";
  }

  #typeChanged() {
    const price = this.form.elements.price;
    price.disabled = this.form.elements.order_type.value !== "LIMIT";
    price.required = !price.disabled;
  }

  #body() {
    const fields = this.form.elements;
    const body = {
      symbol: fields.symbol.value.trim().toUpperCase(), side: fields.side.value,
      order_type: fields.order_type.value, quantity: fields.quantity.value.trim(),
      time_in_force: fields.time_in_force.value,
    };
    if (body.order_type === "LIMIT") body.price = fields.price.value.trim();
    return body;
  }

  async #submit() {
    const button = this.form.querySelector("button[type=submit]");
    for (const field of this.form.elements) field.removeAttribute("aria-invalid");
    button.disabled = true;
    this.status.textContent = "Placing…";
    try {
      const order = await this.session.request("POST", "/orders", this.#body(),
        { "idempotency-key": idempotencyKey() });
      this.status.textContent = `Order placed: ${order.side} ${order.quantity} ${order.symbol}`;
      this.onPlaced(order);
    } catch (error) {
      this.status.textContent = `Not placed: ${error.message}`;
      const field = this.form.elements[error.details?.field];
      if (field instanceof HTMLElement) {
        field.setAttribute("aria-invalid", "true");
        field.focus();
      }
    } finally {
      button.disabled = false;
    }
  }
}
