// Positions and the paper account: read over HTTP, replaced by the stream's snapshots after
// each fill, and marked live to every quote of a held symbol.
import { el, shown } from "./dom.js";
import { accountTotals, marked, tone } from "./money.js";

const ACCOUNT_FIELDS = [["cash", "Cash"], ["buying_power", "Buying power"], ["equity", "Equity"],
  ["unrealized_pnl", "Unrealized P&L"], ["realized_pnl", "Realized P&L"]];

const key = (position) => `${position.account_id} ${position.symbol}`;
const amount = (value, extra = "") => el("td", { className: `num ${tone(value)} ${extra}`.trim() },
  shown(value));

export class Positions {
  #positions = new Map(); // "account symbol" → the position as GET /positions shows it
  #account = null; // the paper account as GET /account shows it
  #reading = false; // GET /account in flight
  #stale = false; // and the account moved again since it was sent

  /** `onHeld(symbols)` is told the held symbols whenever they change. */
  constructor({ body, empty, account }, session, onHeld) {
    Object.assign(this, { body, empty, accountList: account, session, onHeld });
  }

  clear() {
    this.#positions.clear();
    this.#account = null;
    this.#render();
  }

  async reload() {
    const [positions, account] = await Promise.all([
      this.session.request("GET", "/positions"), this.session.request("GET", "/account")]);
    this.#positions = new Map(positions.map((position) => [key(position), position]));
    this.#account = account;
    this.#render();
  }

  /** A `position` snapshot of the stream: the position as it stands after a fill. */
  onPosition(position) {
    this.#positions.set(key(position), position);
    this.#render();
  }

  /** An `account` snapshot of the stream. */
  onAccount(account) {
    if (account.account_id !== this.#account?.account_id) return;
    this.#account = account;
    this.#stale ||= this.#reading; // a read sent before it may answer after it: read again
    this.#render();
  }

  /** An order changed: its reservation may have moved, which no snapshot of the stream
   * reports (they follow fills), so read the account again; one read at a time. */
  onOrder() {
    if (this.#reading) {
      this.#stale = true;
      return;
    }
    this.#reading = true;
    this.session.request("GET", "/account")
      .then((account) => {
        this.#account = account;
        this.#render();
      }, () => {}) // the next change or reconnection reads it again
      .finally(() => {
        this.#reading = false;
        if (this.#stale) {
          this.#stale = false;
          this.onOrder();
        }
      });
  }

  /** A quote: mark the positions in its symbol to its last price. */
  onQuote(quote) {
    if (quote.last === null) return;
    let moved = false;
    for (const position of this.#positions.values()) {
      if (position.symbol === quote.symbol && position.market_price !== quote.last) {
        Object.assign(position, marked(position, quote.last));
        moved = true;
      }
    }
    if (moved) this.#render();
  }

  #held() {
    return [...this.#positions.values()].filter((position) => position.quantity !== "0");
  }

  #render() {
    const held = this.#held();
    this.body.replaceChildren(...held.map((position) => el("tr", {},
      el("th", { scope: "row" }, position.symbol),
      el("td", { className: "num" }, position.quantity),
      el("td", { className: "num" }, shown(position.avg_price)),
      el("td", { className: "num" }, shown(position.market_price)),
      amount(position.market_value),
      amount(position.unrealized_pnl, "pnl"),
      amount(position.realized_pnl))));
    this.empty.hidden = held.length > 0;
    this.#renderAccount();
    this.onHeld([...new Set(held.map((position) => position.symbol))]);
  }

  #renderAccount() {
    const account = this.#account;
    if (account === null) {
      this.accountList.replaceChildren();
      return;
    }
    const own = [...this.#positions.values()].filter((p) => p.account_id === account.account_id);
    const live = { ...account, ...accountTotals(account.cash, own) };
    this.accountList.replaceChildren(...ACCOUNT_FIELDS.map(([field, label]) => el("div", {},
      el("dt", {}, label),
      el("dd", { className: tone(field.endsWith("pnl") ? live[field] : null),
        dataset: { field } }, `${live[field]} ${account.currency}`))));
  }
}
