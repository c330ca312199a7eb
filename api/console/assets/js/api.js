// The HTTP API as the console uses it. Tokens live in memory only: a reload logs out, and no
// script of another tab or extension storage can read them.

const BASE = "/api/v1";
// Renew the access token when this share of its lifetime has passed, so that requests and
// stream reconnects never meet an expired one.
const RENEW_AT = 0.8;
const RETRY_RENEWAL_MS = 5000;

/** An answer in the API's one error shape: {"error": {code, message, details, request_id}}. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error ?? {};
    super(error.message ?? `the server answered ${status}`);
    this.status = status;
    this.code = error.code ?? "http_error";
    this.details = error.details ?? {};
  }
}

async function send(method, path, body, headers = {}) {
  const json = body === undefined ? {} : { "content-type": "application/json" };
  const response = await fetch(BASE + path, {
    method,
    headers: { accept: "application/json", ...json, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const payload = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

/** A logged-in user's tokens, renewed before they expire; `onEnded` runs when renewal fails. */
export class Session {
  #access = null;
  #refresh = null;
  #timer = null;
  #renewing = null;

  constructor(onEnded) {
    this.onEnded = onEnded;
  }

  get token() {
    return this.#access;
  }

  async login(email, password) {
    this.#keep(await send("POST", "/auth/login", { email, password }));
  }

  async logout() {
    const refresh = this.#refresh;
    this.#forget();
    if (refresh) await send("POST", "/auth/logout", { refresh_token: refresh }).catch(() => {});
  }

  /** Call the API as this user; a 401 renews the access token once and tries again. */
  async request(method, path, body, headers = {}) {
    const asUser = () => send(method, path, body,
      { ...headers, authorization: `Bearer ${this.#access}` });
    try {
      return await asUser();
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401 || this.#refresh === null) {
        throw error;
      }
      await this.renew();
      return asUser();
    }
  }

  /** Trade the refresh token for a new pair; concurrent callers share one exchange. */
  renew() {
    const refresh = this.#refresh;
    this.#renewing ??= send("POST", "/auth/refresh", { refresh_token: refresh })
      .then((tokens) => {
        if (this.#refresh === refresh) this.#keep(tokens); // else logged out meanwhile
      }, (error) => {
        // Refused: the session is over. A network failure is no answer: try again later.
        if (error instanceof ApiError && this.#refresh === refresh) this.#end();
        throw error;
      })
      .finally(() => { this.#renewing = null; });
    return this.#renewing;
  }

  #keep(tokens) {
    this.#access = tokens.access_token;
    this.#refresh = tokens.refresh_token;
    this.#renewIn(tokens.expires_in * RENEW_AT * 1000);
  }

  #renewIn(ms) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.renew().catch(() => {
      if (this.#refresh !== null) this.#renewIn(RETRY_RENEWAL_MS);
    }), ms);
  }

  #forget() {
    clearTimeout(this.#timer);
    this.#access = this.#refresh = this.#timer = null;
  }

  #end() {
    this.#forget();
    this.onEnded();
  }
}
