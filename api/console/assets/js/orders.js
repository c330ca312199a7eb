// What the console knows of each order: reads over HTTP and events of the stream, merged so
// that a read never undoes an event that came after it was sent. No DOM here.

// Newest first; an order not read yet (no created_at) is the newest. The API writes every
// instant in UTC with its offset, so the strings sort as the instants do.
const NOT_READ = "\uffff";
export const newestFirst = (a, b) => {
  const [x, y] = [a.created_at ?? NOT_READ, b.created_at ?? NOT_READ];
  return x > y ? -1 : x < y ? 1 : 0;
};

export class OrderBook {
  #entries = new Map(); // order id → { order, events }: `events` counts the events applied

  clear() {
    this.#entries.clear();
  }

  get(id) {
    return this.#entries.get(id)?.order;
  }

  /** Every order, newest first. */
  orders() {
    return [...this.#entries.values()].map((entry) => entry.order).sort(newestFirst);
  }

  /** Order id → events applied so far: what to hand `read` with a read sent now. */
  counts() {
    return new Map([...this.#entries].map(([id, entry]) => [id, entry.events]));
  }

  /** Apply an `order` or `fill` message of the stream: { order, unheardOf }. */
  event(message) {
    let entry = this.#entries.get(message.order_id);
    const unheardOf = entry === undefined;
    if (unheardOf) {
      entry = { order: { id: message.order_id, client_order_id: message.client_order_id,
        symbol: message.symbol, side: message.side }, events: 0 };
      this.#entries.set(message.order_id, entry);
    }
    entry.events += 1;
    entry.order.status = message.status;
    for (const [field, [, now]] of Object.entries(message.changed ?? {})) entry.order[field] = now;
    return { order: entry.order, unheardOf };
  }

  /** Merge an order read over HTTP when `events` events had been applied to it. If more came
   * since, they are newer than the read, which then only fills in what they did not say. */
  read(resource, events = 0) {
    const entry = this.#entries.get(resource.id);
    if (entry === undefined) {
      this.#entries.set(resource.id, { order: { ...resource }, events: 0 });
    } else if (entry.events === events) {
      Object.assign(entry.order, resource);
    } else {
      for (const [field, value] of Object.entries(resource)) entry.order[field] ??= value;
    }
    return this.get(resource.id);
  }
}
