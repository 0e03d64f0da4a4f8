// Shared by every page: who the shopper is (from the page), rupees, calls to the gateway's JSON API, the cart badge.

/** `bytes` random bytes as hex (crypto.getRandomValues works on plain http too). */
export function randomHex(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

// The shopper: the gateway keeps his session in an HttpOnly cookie (a guest one on the first
// visit) and renders his id into the page; every API call below carries that cookie.
export const user = document.body.dataset.userId;

/** 7990000 -> "₹79,900.00", with Indian digit grouping ("₹1,14,900.00"); mirrors domain/money.py. */
export function formatINR(paise) {
  const sign = paise < 0 ? '-' : '';
  const abs = Math.abs(paise);
  const digits = String(Math.floor(abs / 100));
  let head = digits.slice(0, -3);
  const tail = digits.slice(-3);
  const groups = [];
  while (head.length > 2) {
    groups.unshift(head.slice(-2));
    head = head.slice(0, -2);
  }
  if (head) groups.unshift(head);
  return `${sign}₹${[...groups, tail].join(',')}.${String(abs % 100).padStart(2, '0')}`;
}

/** One call to the gateway: `{status, body, message}`; status 0 when the network failed. */
export async function api(method, path, body, headers = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    return { status: 0, body: null, message: 'The shop cannot be reached. Check your connection and try again.' };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    // not JSON: the message below says what happened
  }
  const message = data?.error?.message ?? `The shop did not answer (HTTP ${response.status}). Please try again.`;
  return { status: response.status, body: data, message };
}

export const cartPath = (sku) =>
  `/cart/${encodeURIComponent(user)}${sku ? `/items/${encodeURIComponent(sku)}` : ''}`;

/** Number of units in the cart, in the header's badge. */
export function showCartCount(cart) {
  const units = cart.items.reduce((sum, item) => sum + item.quantity, 0);
  for (const badge of document.querySelectorAll('[data-cart-count]')) badge.textContent = String(units);
  for (const link of document.querySelectorAll('[data-cart-link]')) {
    link.setAttribute('aria-label', `Cart, ${units} ${units === 1 ? 'item' : 'items'}`);
  }
}

/** The shopper's cart as the page opened (null if the shop did not answer, or on an error page). */
export const cartReady = !user ? Promise.resolve(null) : api('GET', cartPath()).then((r) => {
  if (r.status !== 200) return null;
  showCartCount(r.body);
  return r.body;
});

let toastTimer;
/** A short message, shown as a toast and read out by screen readers. */
export function announce(message) {
  const toast = document.querySelector('[data-announcer]');
  toast.textContent = message;
  toast.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toast.classList.remove('show'), 4000);
}

