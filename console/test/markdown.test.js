// The console's Markdown subset, as the tree the renderer builds from. Raw HTML stays
// text: the renderer has no path that parses markup.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { parseInline, parseMarkdown } from "../markdown.js";

test("plain text is one paragraph of exactly that text", () => {
  const text = "You said: hello token0 token1 ";
  assert.deepEqual(parseMarkdown(text), [{ type: "paragraph", children: [{ type: "text", text }] }]);
});

test("a fenced code block keeps its text and language, markup inside it untouched", () => {
  const blocks = parseMarkdown("Run:\n```js\nconst a = '<b>**x**</b>';\n```\nDone.");
  assert.deepEqual(blocks, [
    { type: "paragraph", children: [{ type: "text", text: "Run:" }] },
    { type: "code", lang: "js", text: "const a = '<b>**x**</b>';" },
    { type: "paragraph", children: [{ type: "text", text: "Done." }] },
  ]);
});

test("a fence still open while the reply streams is a code block to the end", () => {
  assert.deepEqual(parseMarkdown("```py\nprint(1)\nprint("), [{ type: "code", lang: "py", text: "print(1)\nprint(" }]);
});

test("headings, lists and quotes", () => {
  const blocks = parseMarkdown("# Title\n- one\n- **two**\n\n3. three\n4. four\n> quoted");
  assert.equal(blocks[0].type, "heading");
  assert.deepEqual(blocks[1], { type: "list", ordered: false, start: 1, items: [[{ type: "text", text: "one" }], [{ type: "strong", children: [{ type: "text", text: "two" }] }]] });
  assert.equal(blocks[2].ordered, true);
  assert.equal(blocks[2].start, 3);
  assert.equal(blocks[3].type, "quote");
});

test("inline code, bold, emphasis and links", () => {
  assert.deepEqual(parseInline("a `x<y` **b** *c* [d](https://example.com/)"), [
    { type: "text", text: "a " },
    { type: "code", text: "x<y" },
    { type: "text", text: " " },
    { type: "strong", children: [{ type: "text", text: "b" }] },
    { type: "text", text: " " },
    { type: "em", children: [{ type: "text", text: "c" }] },
    { type: "text", text: " " },
    { type: "link", href: "https://example.com/", children: [{ type: "text", text: "d" }] },
  ]);
});

test("links other than http(s) and mailto stay text", () => {
  const nodes = parseInline("[click](javascript:alert(1)) [x](data:text/html,hi)");
  assert.ok(nodes.every((n) => n.type === "text"));
});

test("HTML is text: the tree has no node that could carry markup", () => {
  const nodes = parseMarkdown('<img src=x onerror="alert(1)"> <script>alert(2)</script>');
  assert.deepEqual(nodes, [{ type: "paragraph", children: [{ type: "text", text: '<img src=x onerror="alert(1)"> <script>alert(2)</script>' }] }]);
});

test("the renderer never uses innerHTML or insertAdjacentHTML", () => {
  const source = readFileSync(new URL("../markdown.js", import.meta.url), "utf8");
  assert.doesNotMatch(source, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|DOMParser/);
});

test("snake_case words are not emphasis", () => {
  assert.deepEqual(parseInline("a_b_c"), [{ type: "text", text: "a_b_c" }]);
});
