// The checkout page: cart lines with steppers and remove, the delivery form, the UPI ID, Place order.
import { announce, api, cartPath, cartReady, formatINR, randomHex, showCartCount, user } from './shop.js';

const page = document.querySelector('.checkout');
const maxQuantity = Number(page.dataset.maxQuantity);
const lines = page.querySelector('[data-cart-lines]');
const lineTemplate = document.getElementById('cart-line');
const form = page.querySelector('[data-checkout-form]');
const placeButton = form.querySelector('[data-place-order]');
const placeLabel = placeButton.firstChild.textContent;
const formError = form.querySelector('[data-form-error]');
const fields = [...form.querySelectorAll('[data-required], [data-pattern]')];
const ADDRESS_KEY = `megatron.address.${user}`;

let cart = null;
let placing = false;
// One Idempotency-Key per checkout attempt: a repeated request (double click, retry after a
// network error) names the same order, so it cannot place a second one.
let attemptKey = null;
let queue = Promise.resolve(); // cart changes one at a time, in the order they were made

// --- the cart ---------------------------------------------------------------------------

function renderCart(next) {
  cart = next;
  showCartCount(cart);
  const empty = cart.items.length === 0;
  page.querySelector('[data-cart-loading]').hidden = true;
  page.querySelector('[data-cart-empty]').hidden = !empty;
  page.querySelector('[data-cart-summary]').hidden = empty;
  const seen = new Set();
  let previous = null;
  for (const item of cart.items) {
    seen.add(item.sku);
    const li = lines.querySelector(`[data-sku="${CSS.escape(item.sku)}"]`) ?? newLine(item);
    fillLine(li, item);
    const expected = previous ? previous.nextElementSibling : lines.firstElementChild;
    if (li !== expected) lines.insertBefore(li, expected);
    previous = li;
  }
  for (const li of [...lines.children]) if (!seen.has(li.dataset.sku)) li.remove();
  const total = formatINR(cart.total_paise);
  page.querySelector('[data-cart-subtotal]').textContent = total;
  page.querySelector('[data-cart-total]').textContent = total;
  form.querySelector('[data-order-total]').textContent = empty ? '' : `· ${total}`;
  placeButton.disabled = empty || placing;
}

function newLine(item) {
  const li = lineTemplate.content.firstElementChild.cloneNode(true);
  li.dataset.sku = item.sku;
  const qty = li.querySelector('[data-qty]');
  qty.id = `qty-${item.sku}`;
  qty.setAttribute('aria-label', `Quantity of ${item.name}`);
  li.querySelector('[data-dec]').setAttribute('aria-label', `Decrease quantity of ${item.name}`);
  li.querySelector('[data-inc]').setAttribute('aria-label', `Increase quantity of ${item.name}`);
  li.querySelector('[data-remove]').setAttribute('aria-label', `Remove ${item.name} from cart`);
  const quantity = () => cart.items.find((i) => i.sku === item.sku)?.quantity ?? 0;
  li.querySelector('[data-dec]').addEventListener('click', () => change(item, quantity() - 1));
  li.querySelector('[data-inc]').addEventListener('click', () => change(item, quantity() + 1));
  li.querySelector('[data-remove]').addEventListener('click', () => change(item, 0));
  qty.addEventListener('change', () => {
    const wanted = Math.round(Number(qty.value));
    if (Number.isFinite(wanted) && wanted >= 1) change(item, Math.min(wanted, maxQuantity));
    else qty.value = String(quantity());
  });
  return li;
}

function fillLine(li, item) {
  li.querySelector('[data-line-name]').textContent = item.name;
  li.querySelector('[data-line-unit]').textContent = `${formatINR(item.unit_price_paise)} each`;
  li.querySelector('[data-line-total]').textContent = formatINR(item.line_total_paise);
  li.querySelector('[data-qty]').value = String(item.quantity);
  li.querySelector('[data-dec]').disabled = item.quantity <= 1;
  li.querySelector('[data-inc]').disabled = item.quantity >= maxQuantity;
}

function change(item, quantity) {
  queue = queue.then(async () => {
    const r = quantity > 0
      ? await api('PUT', cartPath(item.sku), { quantity })
      : await api('DELETE', cartPath(item.sku));
    if (r.status !== 200) {
      announce(r.message);
      renderCart(cart); // put the line back as it is
      return;
    }
    const removing = quantity === 0 && lines.querySelector(`[data-sku="${CSS.escape(item.sku)}"]`)?.contains(document.activeElement);
    renderCart(r.body);
    if (removing) document.getElementById('cart-heading').focus();
    announce(quantity > 0 ? `${item.name}: quantity ${quantity}.` : `${item.name} removed from your cart.`);
  });
}

// --- the form ---------------------------------------------------------------------------

function valueOf(field) {
  const value = field.value.trim();
  // people type mobile numbers with spaces, dashes or the country code
  return field.id === 'phone' ? value.replace(/[\s-]/g, '').replace(/^\+?91(?=\d{10}$)/, '') : value;
}

/** Show or clear the field's error; true when the field is fine. */
function check(field) {
  const value = valueOf(field);
  let message = '';
  if (!value) message = field.required ? field.dataset.required : '';
  else if (field.dataset.pattern && !new RegExp(field.dataset.pattern).test(value)) message = field.dataset.message;
  const error = document.getElementById(`${field.id}-error`);
  error.textContent = message;
  error.hidden = !message;
  if (message) field.setAttribute('aria-invalid', 'true');
  else field.removeAttribute('aria-invalid');
  return !message;
}

for (const field of fields) {
  field.addEventListener('blur', (event) => {
    // leaving for Place order: submit checks every field; an error shown now would move
    // the button away from under the pointer between press and release
    if (event.relatedTarget === placeButton) return;
    if (field.value.trim()) check(field);
  });
  field.addEventListener('input', () => { if (field.hasAttribute('aria-invalid')) check(field); });
}

function remembered() {
  try {
    return JSON.parse(localStorage.getItem(ADDRESS_KEY) ?? '{}');
  } catch {
    return {};
  }
}

for (const [name, value] of Object.entries(remembered())) {
  const field = form.elements.namedItem(name);
  if (field && typeof value === 'string' && name !== 'vpa') field.value = value;
}

function remember() {
  const address = {};
  for (const name of ['name', 'phone', 'email', 'address', 'city', 'state', 'pincode']) address[name] = form.elements[name].value.trim();
  localStorage.setItem(ADDRESS_KEY, JSON.stringify(address));
}

/** The delivery address as POST /checkout takes it (`shipping_address`). */
function shippingAddress() {
  return {
    name: valueOf(form.elements.name),
    // the street on one line, as it goes on the label: the lines typed in the box, joined
    line: valueOf(form.elements.address).split(/\s*\n\s*/).filter(Boolean).join(', '),
    city: valueOf(form.elements.city),
    state: valueOf(form.elements.state),
    pincode: valueOf(form.elements.pincode),
    phone: `+91${valueOf(form.elements.phone)}`,
  };
}

function setPlacing(on) {
  placing = on;
  placeButton.disabled = on || !cart || cart.items.length === 0;
  placeButton.firstChild.textContent = on ? 'Placing your order… ' : placeLabel;
  if (on) placeButton.setAttribute('aria-busy', 'true');
  else placeButton.removeAttribute('aria-busy');
  lines.inert = on; // the cart the order is made of does not change under it
}

function showFormError(message) {
  formError.textContent = message;
  formError.hidden = !message;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (placing || !cart || cart.items.length === 0) return;
  const invalid = fields.filter((field) => !check(field)); // every field, so every error shows
  if (invalid.length) {
    showFormError('');
    invalid[0].focus();
    return;
  }
  setPlacing(true); // before any await: a second click finds the button disabled
  showFormError('');
  attemptKey ??= randomHex(16);
  remember();
  const contact = { phone: `+91${valueOf(form.elements.phone)}` };
  if (valueOf(form.elements.email)) contact.email = valueOf(form.elements.email);
  const r = await api('POST', '/checkout', {
    user_id: user,
    payment: { method: 'UPI', vpa: valueOf(form.elements.vpa) },
    shipping_address: shippingAddress(),
    contact,
  }, { 'Idempotency-Key': attemptKey });
  if (r.status === 202) {
    location.assign(`/orders/${encodeURIComponent(r.body.order_id)}/confirmation`);
    return; // stays disabled while the next page loads
  }
  setPlacing(false);
  showFormError(r.message);
});

// Back from the confirmation page (the page restored as it was): that attempt placed its
// order, so the next Place order is a new attempt with a new key.
window.addEventListener('pageshow', async (event) => {
  if (!event.persisted) return;
  attemptKey = null;
  setPlacing(false);
  const r = await api('GET', cartPath());
  if (r.status === 200) renderCart(r.body);
});

cartReady.then((loaded) => {
  if (loaded) renderCart(loaded);
  else page.querySelector('[data-cart-loading]').textContent = 'Your cart could not be loaded. Refresh the page to try again.';
});
