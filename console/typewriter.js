// Progressive rendering of a streaming reply: characters appear at a steady rate that
// speeds up with the backlog, so chunks that arrive every 300-400 ms read smoothly
// instead of in jumps, and the text never lags far behind what has arrived. The final
// frame shows everything at once. No clock of its own: tick(ms) moves it on.

export class Typewriter {
  /**
   * @param {{minCharsPerSecond?: number, catchUpMs?: number}} options: the slowest rate,
   * and how long a backlog may take to show at most (the rate rises to meet it).
   */
  constructor({ minCharsPerSecond = 60, catchUpMs = 400 } = {}) {
    this.minCharsPerSecond = minCharsPerSecond;
    this.catchUpMs = catchUpMs;
    this.target = "";
    this.shown = 0;
    this.done = false;
    this.carry = 0;
    this.budget = 0; // ms left to show what has arrived
  }

  /** The text that has arrived; `done` once the final frame came (shown at once). */
  set(text, { done = false } = {}) {
    const visible = this.visible;
    if (!text.startsWith(visible)) this.shown = commonPrefix(visible, text); // a snapshot rewrote it
    if (text !== this.target) this.budget = this.catchUpMs;
    this.target = text;
    this.done = done;
    if (done) this.shown = text.length;
  }

  /** Starts from `text` already shown (a history page), without typing it again. */
  show(text) {
    this.target = text;
    this.shown = text.length;
  }

  /** Moves on by `elapsedMs`; returns true when the visible text changed. */
  tick(elapsedMs) {
    const backlog = this.target.length - this.shown;
    if (backlog <= 0) return false;
    // Linear toward a deadline catchUpMs after the last arrival: all of it by then.
    const rate = Math.max(this.minCharsPerSecond / 1000, backlog / Math.max(elapsedMs, this.budget));
    this.budget = Math.max(0, this.budget - elapsedMs);
    this.carry += rate * elapsedMs;
    const step = Math.floor(this.carry);
    if (step < 1) return false;
    this.carry -= step;
    this.shown = Math.min(this.target.length, this.shown + step);
    // Never end inside a surrogate pair: the half would render as a replacement glyph.
    if (this.shown < this.target.length && /[\ud800-\udbff]/.test(this.target[this.shown - 1])) this.shown += 1;
    return true;
  }

  get visible() {
    return this.target.slice(0, this.shown);
  }

  get idle() {
    return this.shown >= this.target.length;
  }
}

function commonPrefix(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i += 1;
  return i;
}
