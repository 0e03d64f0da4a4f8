// The confirmation page: the order's status, pushed by the server (Server-Sent Events) until it is final.
import { api, cartPath, showCartCount } from './shop.js';

const root = document.querySelector('[data-order-id]');
const texts = JSON.parse(document.getElementById('order-texts').textContent);
const FINAL = new Set(['CONFIRMED', 'FAILED']);
const clock = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Asia/Kolkata', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});
const $ = (selector) => root.querySelector(selector);

/** Each step's label, state and time; mirrors order_steps in web/pages.py. */
function steps(order) {
  const reached = Object.fromEntries(order.history.map((h) => [h.status, h.at]));
  const failed = order.status === 'FAILED';
  const failure = texts.failure[order.reason ?? ''] ?? texts.failure[''];
  let blocked = false;
  return Object.entries(texts.steps).map(([status, label]) => {
    if (status in reached) return { status, label, state: 'done', at: reached[status] };
    if (failed && !blocked) {
      blocked = true;
      return { status, label: failure.step, state: 'failed', at: reached.FAILED ?? null };
    }
    const state = blocked || failed ? 'todo' : 'current';
    blocked = true;
    return { status, label, state, at: null };
  });
}

function render(order) {
  const text = texts.status[order.status];
  const failure = texts.failure[order.reason ?? ''] ?? texts.failure[''];
  root.dataset.status = order.status;
  root.dataset.reason = order.reason ?? '';
  $('[data-headline]').textContent = text.headline;
  document.title = `${text.headline} · Megatron Store`;
  const badge = $('[data-status-badge]');
  badge.textContent = text.label;
  badge.className = `badge badge-${order.status}`;
  $('[data-status-message]').textContent = order.status === 'FAILED' ? failure.message : text.message;
  $('[data-failure-message]').textContent = failure.message;
  $('[data-failure]').hidden = order.status !== 'FAILED';
  $('[data-success]').hidden = order.status !== 'CONFIRMED';
  for (const step of steps(order)) {
    const li = $(`[data-step="${step.status}"]`);
    li.className = `step ${step.state}`;
    li.querySelector('.step-label').textContent = step.label;
    const time = li.querySelector('time');
    time.dateTime = step.at ?? '';
    time.textContent = step.at ? `${clock.format(new Date(step.at))} IST` : '';
  }
}

/** The cart badge without the lines just bought (the cart service takes them out on confirmation). */
async function showCartAfter(order) {
  const bought = new Set(order.items.map((item) => item.sku));
  const r = await api('GET', cartPath());
  if (r.status === 200) showCartCount({ items: r.body.items.filter((item) => !bought.has(item.sku)) });
}

function note(message) {
  const el = $('[data-live-note]');
  el.textContent = message;
  el.hidden = !message;
}

function follow() {
  const source = new EventSource(`/orders/${encodeURIComponent(root.dataset.orderId)}/events`);
  source.addEventListener('open', () => note(''));
  source.addEventListener('order', (event) => {
    const order = JSON.parse(event.data);
    root.dataset.liveEvents = String(Number(root.dataset.liveEvents) + 1);
    render(order);
    if (FINAL.has(order.status)) source.close(); // nothing changes after a final status
    if (order.status === 'CONFIRMED') showCartAfter(order);
  });
  source.addEventListener('error', () => {
    // the browser reconnects by itself unless the server refused the stream
    note(source.readyState === EventSource.CLOSED
      ? 'Live updates stopped. Refresh the page to see the latest status.'
      : 'Reconnecting for live updates…');
  });
}

if (!FINAL.has(root.dataset.status)) follow();
