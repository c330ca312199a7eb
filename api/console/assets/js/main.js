// The trader console: log in, then a live blotter, a ticket, positions and a price chart.
import { Session } from "./api.js";
import { Blotter } from "./blotter.js";
import { PriceChart } from "./chart.js";
import { byId } from "./dom.js";
import { Positions } from "./positions.js";
import { Stream } from "./stream.js";
import { Ticket } from "./ticket.js";

const CONNECTION = { off: "Not connected", connecting: "Connecting…", live: "Live",
  down: "Disconnected: reconnecting…" };

let held = new Set(); // the symbols of open positions, whose quotes the stream must bring

const session = new Session(() => showLogin("Your session has ended: log in again."));
const blotter = new Blotter(
  { body: byId("blotter").tBodies[0], news: byId("orders-news"), empty: byId("orders-empty") },
  session);
const chart = new PriceChart({ plot: byId("chart-plot"), quote: byId("chart-quote") });
const stream = new Stream(session, { onOpen: reload, onMessage: route, onState: showConnection });
const positions = new Positions({ body: byId("positions-table").tBodies[0],
  empty: byId("positions-empty"), account: byId("account") }, session, (symbols) => {
    held = new Set(symbols);
    stream.follow(symbols);
  });
const ticket = new Ticket({ form: byId("ticket-form"), status: byId("ticket-status") }, session,
  (order) => {
    blotter.placed(order);
    if (chart.symbol === null) chartSymbol(order.symbol); // a first chart worth seeing
  });

function route(message) {
  switch (message.type) {
    case "order":
      blotter.onEvent(message);
      positions.onOrder();
      break;
    case "fill":
      blotter.onEvent(message);
      break;
    case "position":
      positions.onPosition(message);
      break;
    case "account":
      positions.onAccount(message);
      break;
    case "quote":
      positions.onQuote(message);
      chart.onQuote(message);
      break;
    case "error":
      byId("orders-news").textContent = `The stream refused a request: ${message.message}`;
      break;
    default: // subscribed, heartbeat
  }
}

// On every (re)connection: what the stream does not replay is read again once it is open.
async function reload() {
  try {
    await Promise.all([blotter.reload(), positions.reload()]);
  } catch (error) {
    byId("orders-news").textContent = `Could not load your orders and positions: ${error.message}`;
  }
}

function showConnection(state) {
  const connection = byId("connection");
  connection.textContent = CONNECTION[state];
  connection.dataset.state = state;
}

async function chartSymbol(symbol) {
  const error = byId("chart-error");
  error.textContent = "";
  try {
    const quote = await session.request("GET", `/market/quotes/${encodeURIComponent(symbol)}`);
    const previous = chart.symbol;
    chart.show(quote.symbol, { ...quote, at: quote.ts });
    byId("chart-symbol").value = quote.symbol;
    stream.follow([quote.symbol]);
    if (previous && previous !== quote.symbol && !held.has(previous)) stream.unfollow([previous]);
  } catch (failure) {
    error.textContent = `No chart for ${symbol}: ${failure.message}`;
  }
}

function showDesk(email) {
  byId("login").hidden = true;
  byId("desk").hidden = false;
  Object.assign(byId("who"), { hidden: false, textContent: email });
  byId("logout").hidden = false;
  stream.start();
  byId("ticket-symbol").focus();
}

function showLogin(reason = "") {
  stream.stop();
  blotter.clear();
  positions.clear();
  chart.clear();
  ticket.clear();
  byId("desk").hidden = true;
  byId("who").hidden = true;
  byId("logout").hidden = true;
  byId("login").hidden = false;
  byId("login-error").textContent = reason;
  showConnection("off");
  byId("login-email").focus();
}

byId("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("button");
  byId("login-error").textContent = "";
  button.disabled = true;
  try {
    await session.login(form.elements.email.value.trim(), form.elements.password.value);
    form.elements.password.value = "";
    showDesk(form.elements.email.value.trim());
  } catch (error) {
    byId("login-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
});

byId("logout").addEventListener("click", async () => {
  await session.logout();
  showLogin();
});

byId("chart-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const symbol = byId("chart-symbol").value.trim().toUpperCase();
  if (symbol) chartSymbol(symbol);
});
