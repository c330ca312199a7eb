// A live price chart of one symbol: its last price at each quote the stream brings.
import uPlot from "../vendor/uplot-1.6.32/uPlot.esm.js";

const MAX_POINTS = 600;
const HEIGHT = 240;
const NOTHING_YET = "Choose a symbol to chart its last price as quotes arrive.";

export class PriceChart {
  #symbol = null;
  #times = [];
  #prices = [];
  #plot = null;

  constructor({ plot, quote }) {
    Object.assign(this, { container: plot, caption: quote });
    quote.textContent = NOTHING_YET;
    new ResizeObserver(() => this.#plot?.setSize(this.#size())).observe(plot);
  }

  get symbol() {
    return this.#symbol;
  }

  /** Chart this symbol from now on, starting at its current quote. */
  show(symbol, quote) {
    this.#symbol = symbol;
    this.#times = [];
    this.#prices = [];
    this.#plot?.destroy();
    this.#plot = new uPlot({
      ...this.#size(),
      series: [{}, { label: symbol, stroke: "#0b5cad", width: 2 }],
      axes: [{}, { size: 70 }],
      legend: { show: false },
      cursor: { show: false },
    }, [this.#times, this.#prices], this.container);
    this.onQuote(quote);
  }

  clear() {
    this.#plot?.destroy();
    this.#plot = this.#symbol = null;
    this.caption.textContent = NOTHING_YET;
  }

  onQuote(quote) {
    if (quote.symbol !== this.#symbol || quote.last === null) return;
    const at = Date.parse(quote.at) / 1000;
    this.caption.textContent = `${quote.symbol} last ${quote.last}, bid ${quote.bid},`
      + ` ask ${quote.ask} at ${new Date(quote.at).toLocaleTimeString()}`;
    if (at === this.#times.at(-1)) return; // the same quote, over HTTP and then the stream
    // The chart only draws: a float is exact enough for a pixel. Every amount shown as text
    // stays the server's decimal string.
    this.#times.push(at);
    this.#prices.push(Number(quote.last));
    if (this.#times.length > MAX_POINTS) {
      this.#times.shift();
      this.#prices.shift();
    }
    this.#plot.setData([this.#times, this.#prices]);
  }

  #size() {
    return { width: Math.max(this.container.clientWidth, 200), height: HEIGHT };
  }
}
