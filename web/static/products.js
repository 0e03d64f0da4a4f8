// The product list: "Add to cart" puts one more unit in the shopper's cart.
import { announce, api, cartPath, cartReady, showCartCount } from './shop.js';

let cart = null;
let queue = Promise.resolve(); // one change at a time, so two quick clicks make two units

async function addOne(button) {
  cart ??= await cartReady;
  const { addSku: sku, name } = button.dataset;
  const current = cart?.items.find((item) => item.sku === sku)?.quantity ?? 0;
  button.setAttribute('aria-busy', 'true');
  const r = await api('PUT', cartPath(sku), { quantity: current + 1 });
  button.removeAttribute('aria-busy');
  if (r.status !== 200) {
    announce(r.message);
    return;
  }
  cart = r.body;
  showCartCount(cart);
  const now = cart.items.find((item) => item.sku === sku)?.quantity ?? 0;
  announce(`${name} added to your cart (${now} in cart).`);
}

for (const button of document.querySelectorAll('[data-add-sku]')) {
  button.addEventListener('click', () => {
    queue = queue.then(() => addOne(button));
  });
}
