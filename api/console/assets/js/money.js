// Exact decimal arithmetic for live marks: amounts stay decimal strings, as the API sends
// them, and the rounding is the ledger's (shared/domain/values.py: half even, 8 places), so
// a live P&L shows what GET /positions would answer at the same last price.
import Big from "../vendor/big.js-7.0.1/big.mjs";

const LEDGER_PLACES = 8;
const ZERO = new Big(0);

// toFixed() writes plain digits where toString() may write "1e-8", and Big keeps no padding
// zeros: "100.00000000" reads "100", as the API writes it.
const plain = (value) => value.round(LEDGER_PLACES, Big.roundHalfEven).toFixed();

/** A position marked to `mark`: its market value and unrealized P&L. */
export function marked(position, mark) {
  const quantity = new Big(position.quantity);
  return {
    market_price: mark,
    market_value: plain(quantity.times(mark)),
    unrealized_pnl: plain(new Big(mark).minus(position.avg_price).times(quantity)),
  };
}

/** An account's equity and unrealized P&L over its positions (unmarked ones at cost). */
export function accountTotals(cash, positions) {
  let value = ZERO;
  let unrealized = ZERO;
  for (const position of positions) {
    const mark = position.market_price ?? position.avg_price;
    const { market_value, unrealized_pnl } = marked(position, mark);
    value = value.plus(market_value);
    unrealized = unrealized.plus(unrealized_pnl);
  }
  return { equity: plain(new Big(cash).plus(value)), unrealized_pnl: plain(unrealized) };
}

/** "gain", "loss" or "" for an amount's sign (the sign is in the text too). */
export function tone(amount) {
  if (amount === null || amount === undefined) return "";
  const sign = new Big(amount).cmp(ZERO);
  return sign > 0 ? "gain" : sign < 0 ? "loss" : "";
}
