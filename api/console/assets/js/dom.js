// The few DOM helpers the console needs; every text goes in as text, never as markup.

export const byId = (id) => document.getElementById(id);

/** A new element with these properties (`dataset` merged) and children (strings as text). */
export function el(tag, properties = {}, ...children) {
  const { dataset = {}, ...rest } = properties;
  const element = Object.assign(document.createElement(tag), rest);
  Object.assign(element.dataset, dataset);
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

/** A decimal string for a table cell, or a dash where there is none. */
export const shown = (value) => value ?? "—";

const TIME = new Intl.DateTimeFormat(undefined,
  { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** An ISO-8601 instant as the local time of day. */
export const timeOfDay = (iso) => (iso ? TIME.format(new Date(iso)) : "—");
